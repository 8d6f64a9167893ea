/**
 * Stream probe: keeps `concurrency` streaming chats (Ollama NDJSON) in flight for a while and
 * measures, per stream, the time to the first body byte, the gaps between successive reads and
 * the total time; it counts NDJSON lines (chunks) and checks every stream ends with `done:true`.
 */
import { Pool } from "undici";
import { Samples, type LatencySummary } from "./latency-summary.ts";

/** Options of {@link runStreamProbe}. */
export interface StreamProbeOptions {
  /** Target base URL. */
  url: string;
  /** Request path. Default "/api/chat". */
  path?: string;
  /** JSON request body; must ask for a stream. */
  body: string;
  /** Request headers besides the content type (a client key's Authorization). Default none. */
  headers?: Record<string, string>;
  /** Streams kept in flight. */
  concurrency: number;
  /** How long to start new streams for, in ms (streams in flight then finish). */
  durationMs: number;
  /** Longest wait for headers or between chunks, in ms. Default 10000. */
  timeoutMs?: number;
  /** Where to record timings (to merge several runs); the summaries then cover all of it.
   * Default: fresh buffers. */
  samples?: StreamSamples;
}

/** Sample buffers of a stream probe. */
export interface StreamSamples {
  ttfb: Samples;
  gap: Samples;
  total: Samples;
}

/** Fresh buffers for {@link StreamProbeOptions.samples}. */
export function streamSamples(): StreamSamples {
  return { ttfb: new Samples(), gap: new Samples(), total: new Samples() };
}

/** What the probe measured. */
export interface StreamProbeResult {
  /** Streams that ended with a `done:true` line. */
  ok: number;
  /** Streams that failed, answered non-2xx or ended without `done:true`. */
  errors: number;
  /** NDJSON lines received over all complete streams. */
  chunks: number;
  /** Body reads over all complete streams (several lines may arrive in one read). */
  reads: number;
  elapsedMs: number;
  /** Complete streams per second. */
  streamsPerSecond: number;
  /** Send → first body byte. */
  ttfb: LatencySummary;
  /** Between two successive body reads of one stream. */
  gap: LatencySummary;
  /** Send → last byte. */
  total: LatencySummary;
}

const NEWLINE = 0x0a;
const DONE = Buffer.from('"done":true');

/** Runs the probe against `options.url`. */
export async function runStreamProbe(options: StreamProbeOptions): Promise<StreamProbeResult> {
  const timeout = options.timeoutMs ?? 10_000;
  const pool = new Pool(options.url, { connections: options.concurrency, headersTimeout: timeout, bodyTimeout: timeout });
  const path = options.path ?? "/api/chat";
  const headers = { "content-type": "application/json", ...options.headers };
  const { ttfb, gap, total } = options.samples ?? streamSamples();
  let ok = 0;
  let errors = 0;
  let chunks = 0;
  let reads = 0;
  let lastDone = 0;

  const one = async (): Promise<void> => {
    const t0 = performance.now();
    const gaps: number[] = [];
    let first = 0;
    let prev = 0;
    let lines = 0;
    let n = 0;
    let tail: Buffer = Buffer.alloc(0);
    try {
      const { statusCode, body } = await pool.request({ path, method: "POST", headers, body: options.body });
      for await (const chunk of body as AsyncIterable<Buffer>) {
        const now = performance.now();
        if (n === 0) first = now;
        else gaps.push(now - prev);
        prev = now;
        n++;
        for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) lines++;
        tail = chunk;
      }
      lastDone = performance.now();
      // The last line (the final read holds it whole: it is small) must be the terminal chunk.
      const lastLine = tail.subarray(tail.lastIndexOf(NEWLINE, tail.length - 2) + 1);
      if (statusCode !== 200 || lastLine.indexOf(DONE) === -1) {
        errors++;
        return;
      }
      ok++;
      chunks += lines;
      reads += n;
      ttfb.add(first - t0);
      total.add(lastDone - t0);
      for (const g of gaps) gap.add(g);
    } catch {
      errors++;
    }
  };

  const start = performance.now();
  const end = start + options.durationMs;
  try {
    const worker = async () => {
      while (performance.now() < end) await one();
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    await pool.close();
  }
  const elapsedMs = Math.max(1, lastDone - start);
  return {
    ok,
    errors,
    chunks,
    reads,
    elapsedMs,
    streamsPerSecond: (ok * 1000) / elapsedMs,
    ttfb: ttfb.summary(),
    gap: gap.summary(),
    total: total.summary(),
  };
}
