/**
 * Combines the rounds of one target's workload into one result: counts and times add up;
 * latencies come from sample buffers shared by the rounds (so the last round's summary covers
 * all of them), or, for wrk, which reports only percentiles, are the median over the rounds.
 */
import type { LatencySummary } from "./latency-summary.ts";
import type { LoadResult } from "./load-generator.ts";
import type { StreamProbeResult } from "./stream-probe.ts";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** Per-percentile median of several summaries (for wrk rounds). */
function medianSummary(summaries: LatencySummary[]): LatencySummary {
  return {
    count: summaries.reduce((n, s) => n + s.count, 0),
    p50: median(summaries.map((s) => s.p50)),
    p90: median(summaries.map((s) => s.p90)),
    p99: median(summaries.map((s) => s.p99)),
    max: Math.max(...summaries.map((s) => s.max)),
    mean: median(summaries.map((s) => s.mean)),
  };
}

/**
 * Merges load rounds. `sharedSamples` true: every round recorded into the same buffer, so the
 * last round's latency summary is the merged one; false (wrk): median over rounds.
 */
export function mergeLoad(results: LoadResult[], sharedSamples: boolean): LoadResult {
  const ok = results.reduce((n, r) => n + r.ok, 0);
  const elapsedMs = results.reduce((n, r) => n + r.elapsedMs, 0);
  const lags = results.map((r) => r.lagP99Ms).filter((l): l is number => l !== undefined);
  return {
    ok,
    errors: results.reduce((n, r) => n + r.errors, 0),
    elapsedMs,
    rps: (ok * 1000) / elapsedMs,
    latency: sharedSamples ? results[results.length - 1].latency : medianSummary(results.map((r) => r.latency)),
    lagP99Ms: lags.length > 0 ? Math.max(...lags) : undefined,
  };
}

/** Merges stream-probe rounds that recorded into shared sample buffers. */
export function mergeStreams(results: StreamProbeResult[]): StreamProbeResult {
  const last = results[results.length - 1];
  const sum = (f: (r: StreamProbeResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const ok = sum((r) => r.ok);
  const elapsedMs = sum((r) => r.elapsedMs);
  return {
    ok,
    errors: sum((r) => r.errors),
    chunks: sum((r) => r.chunks),
    reads: sum((r) => r.reads),
    elapsedMs,
    streamsPerSecond: (ok * 1000) / elapsedMs,
    ttfb: last.ttfb,
    gap: last.gap,
    total: last.total,
  };
}
