/**
 * Closed-loop streaming load for the balancing bench: `concurrency` clients, spread round robin
 * over one or more entry URLs (proxies), each sending a streaming chat (Ollama NDJSON) as soon as
 * its previous one ended, so the fleet behind always has a queue. Measures, per stream started
 * after the warm-up, the time to the first body byte (the first token: the simulator sends its
 * headers with it) and to the last, and checks each stream ends with `done:true`.
 */
import { Pool } from "undici";
import { Samples, type LatencySummary } from "./latency-summary.ts";

/** Options of {@link runBalanceLoad}. */
export interface BalanceLoadOptions {
  /** Entry base URLs; client i uses `urls[i % urls.length]` unless `split` says otherwise. */
  urls: readonly string[];
  /** Clients per entry URL (summing to `concurrency`), e.g. [9, 3]. Default: round robin. */
  split?: readonly number[];
  /** JSON body of a streaming chat. */
  body: string;
  /** Clients (streams kept in flight). */
  concurrency: number;
  /** Streams started in this first part are not measured, in ms. */
  warmupMs: number;
  /** Measured part, in ms (clients stop starting streams after warm-up + this). */
  durationMs: number;
  /** Longest wait for headers or between chunks, in ms. Default 120000. */
  timeoutMs?: number;
}

/** What the load measured (streams started after the warm-up). */
export interface BalanceLoadResult {
  ok: number;
  /** Streams that failed, answered non-2xx or ended without `done:true` (warm-up included). */
  errors: number;
  /** Complete measured streams per second of the measured part. */
  streamsPerSecond: number;
  /** Send → first body byte (first token). */
  ttft: LatencySummary;
  /** Send → last byte. */
  total: LatencySummary;
}

const NEWLINE = 0x0a;
const DONE = Buffer.from('"done":true');

/** Runs the load; resolves when every stream has ended. */
export async function runBalanceLoad(options: BalanceLoadOptions): Promise<BalanceLoadResult> {
  const timeout = options.timeoutMs ?? 120_000;
  const headers = { "content-type": "application/json" };
  const split = options.split !== undefined && options.split.length === options.urls.length ? options.split : undefined;
  const urlOf = (client: number) => {
    if (split === undefined) return client % options.urls.length;
    let i = 0;
    for (let seen = split[0]; client >= seen && i < split.length - 1; seen += split[++i]);
    return i;
  };
  const perUrl = options.urls.map(() => 0);
  for (let c = 0; c < options.concurrency; c++) perUrl[urlOf(c)]++;
  const pools = options.urls.map(
    (url, i) => new Pool(url, { connections: Math.max(1, perUrl[i]), headersTimeout: timeout, bodyTimeout: timeout }),
  );
  const ttft = new Samples();
  const total = new Samples();
  let ok = 0;
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;

  const one = async (pool: Pool): Promise<void> => {
    const t0 = performance.now();
    let first = -1;
    let tail: Buffer = Buffer.alloc(0);
    try {
      const { statusCode, body } = await pool.request({ path: "/api/chat", method: "POST", headers, body: options.body });
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (first < 0) first = performance.now();
        tail = chunk;
      }
      const last = performance.now();
      const lastLine = tail.subarray(tail.lastIndexOf(NEWLINE, tail.length - 2) + 1);
      if (statusCode !== 200 || lastLine.indexOf(DONE) === -1) {
        errors++;
        return;
      }
      if (t0 < measureFrom) return;
      ok++;
      ttft.add(first - t0);
      total.add(last - t0);
    } catch {
      errors++;
    }
  };

  try {
    const client = async (i: number) => {
      const pool = pools[urlOf(i)];
      while (performance.now() < end) await one(pool);
    };
    await Promise.all(Array.from({ length: options.concurrency }, (_, i) => client(i)));
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  return { ok, errors, streamsPerSecond: (ok * 1000) / options.durationMs, ttft: ttft.summary(), total: total.summary() };
}
