/**
 * An in-process HTTP load generator on an undici Pool: open loop (a fixed request rate, each
 * request sent at its scheduled time whether or not earlier ones have answered — what wrk cannot
 * do) or closed loop (a fixed number of requests in flight, the fallback when wrk is absent).
 * Latency is from sending the request to the last byte of the answer.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Pool } from "undici";
import { Samples, type LatencySummary } from "./latency-summary.ts";

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Target base URL, e.g. "http://127.0.0.1:40123". */
  url: string;
  /** Request path. Default "/api/chat". */
  path?: string;
  /** JSON request body (POST). */
  body: string;
  /** Request headers besides the content type (a client key's Authorization). Default none. */
  headers?: Record<string, string>;
  /** How long to send for, in milliseconds. */
  durationMs: number;
  /** Open loop: requests per second. When set, `concurrency` is ignored. */
  rate?: number;
  /** Closed loop: requests kept in flight. Default 32. */
  concurrency?: number;
  /** Longest a single request may take before it counts as an error, in ms. Default 10000. */
  requestTimeoutMs?: number;
  /** Where to record latencies (to merge several runs); `latency` then summarises all of it.
   * Default: a fresh buffer. */
  samples?: Samples;
}

/** What one load run measured. */
export interface LoadResult {
  /** Requests answered with 2xx and read to the end. */
  ok: number;
  /** Requests that failed, timed out or answered non-2xx. */
  errors: number;
  /** From the first send to the last answer, in ms. */
  elapsedMs: number;
  /** Successful requests per second. */
  rps: number;
  latency: LatencySummary;
  /** Open loop only: how late the generator sent requests vs schedule (p99, ms). */
  lagP99Ms?: number;
}

/** Runs one load phase against `options.url`. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const timeout = options.requestTimeoutMs ?? 10_000;
  const connections = options.rate ? 256 : (options.concurrency ?? 32);
  const pool = new Pool(options.url, { connections, headersTimeout: timeout, bodyTimeout: timeout });
  const path = options.path ?? "/api/chat";
  const headers = { "content-type": "application/json", ...options.headers };
  const latency = options.samples ?? new Samples();
  const lag = new Samples();
  let ok = 0;
  let errors = 0;
  let lastDone = 0;

  const one = async (): Promise<void> => {
    const t0 = performance.now();
    try {
      const { statusCode, body } = await pool.request({ path, method: "POST", headers, body: options.body });
      await body.arrayBuffer();
      lastDone = performance.now();
      if (statusCode >= 200 && statusCode < 300) {
        ok++;
        latency.add(lastDone - t0);
      } else errors++;
    } catch {
      errors++;
    }
  };

  const start = performance.now();
  try {
    if (options.rate) {
      const interval = 1000 / options.rate;
      const total = Math.floor((options.rate * options.durationMs) / 1000);
      const inFlight = new Set<Promise<void>>();
      let sent = 0;
      while (sent < total) {
        const now = performance.now();
        // Send everything that is due (catching up after a late timer), then sleep to the next.
        while (sent < total && start + sent * interval <= now) {
          lag.add(now - (start + sent * interval));
          const p = one().finally(() => inFlight.delete(p));
          inFlight.add(p);
          sent++;
        }
        if (sent < total) await sleep(Math.max(0, start + sent * interval - performance.now()));
      }
      await Promise.all(inFlight);
    } else {
      const end = start + options.durationMs;
      const worker = async () => {
        while (performance.now() < end) await one();
      };
      await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
    }
  } finally {
    await pool.close();
  }
  const elapsedMs = Math.max(1, lastDone - start);
  return {
    ok,
    errors,
    elapsedMs,
    rps: (ok * 1000) / elapsedMs,
    latency: latency.summary(),
    lagP99Ms: options.rate ? lag.summary().p99 : undefined,
  };
}
