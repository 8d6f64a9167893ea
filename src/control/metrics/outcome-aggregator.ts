/**
 * The outcome aggregator (pure, in memory): outcome records in, per (route, variant) per-second
 * buckets over the last hour out, merged into windows on demand; plus all-time counters for
 * Prometheus.
 *
 * Counting is exact: each applied record counts once. The consumer acks a log entry only after
 * its records are applied, so a crash between apply and ack makes the log deliver the entry again
 * to the next consumer; within one aggregator a redelivered record (same proxy, request id and
 * finish time) is recognised for `dedupeSeconds` and dropped, so a redelivery after an ack that
 * got lost, or after the consumer loop restarted, is not counted twice. The key includes the
 * finish time so two different requests that carry the same client-chosen `x-request-id` still
 * count as two.
 */
import { SeriesBuckets, type SeriesSample } from "../../stats/series-buckets.ts";
import { RecentKeys } from "./recent-keys.ts";

/** One outcome as the aggregator needs it. */
export interface OutcomeRecord extends SeriesSample {
  requestId: string;
  /** Proxy that served it. */
  proxy: string;
  route: string;
  variant: string;
  /** HTTP status sent to the client. */
  httpStatus: number;
  /** When the request ended (epoch ms, sub-ms precision allowed). */
  finishedAtMs: number;
}

/** Options of {@link createOutcomeAggregator}. */
export interface OutcomeAggregatorOptions {
  /** How far back windows reach, in seconds. Default 3600. */
  horizonSeconds?: number;
  /** How long an applied record is remembered for deduplication, in seconds. Default 300. */
  dedupeSeconds?: number;
  /** Most distinct (route, variant) series kept; records of further series are only counted in totals. Default 1000. */
  maxSeries?: number;
}

/** A latency distribution summary, in ms. */
export interface LatencyStats {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  count: number;
}

/** One series of a window. */
export interface SeriesStats {
  route: string;
  variant: string;
  requests: number;
  requestsPerSecond: number;
  /** Failed requests by outcome class. */
  errors: Record<string, number>;
  latencyMs: LatencyStats;
  ttftMs: LatencyStats;
  tokensPerSecond: number;
  completionTokens: number;
}

/** A window of every (selected) series. */
export interface WindowStats {
  startMs: number;
  endMs: number;
  /** Sorted by route, then variant. */
  series: SeriesStats[];
  /** Records applied since the aggregator was created. */
  outcomesTotal: number;
}

/** All-time counters of one series. */
export interface SeriesTotals {
  route: string;
  variant: string;
  /** Requests by outcome class. */
  byStatus: ReadonlyMap<string, number>;
  completionTokens: number;
}

/** The aggregator. */
export interface OutcomeAggregator {
  /** Applies one record at time `nowMs`; answers false (and changes nothing) for a duplicate. */
  apply(record: OutcomeRecord, nowMs: number): boolean;
  /** The last `windowSeconds` seconds ending at `nowMs`, optionally only `route`. */
  window(windowSeconds: number, nowMs: number, route?: string): WindowStats;
  /** Per-series all-time counters. */
  totals(): SeriesTotals[];
  /** Records applied. */
  outcomesTotal(): number;
  /** Records dropped as duplicates. */
  duplicatesTotal(): number;
}

interface Series {
  route: string;
  variant: string;
  buckets: SeriesBuckets | null;
  byStatus: Map<string, number>;
  completionTokens: number;
}

function summary(h: { quantile(q: number): number; mean(): number; count: number }): LatencyStats {
  return { p50: h.quantile(0.5), p95: h.quantile(0.95), p99: h.quantile(0.99), mean: h.mean(), count: h.count };
}

/** Creates an empty aggregator. */
export function createOutcomeAggregator(options: OutcomeAggregatorOptions = {}): OutcomeAggregator {
  const horizon = options.horizonSeconds ?? 3600;
  const maxSeries = options.maxSeries ?? 1000;
  const seen = new RecentKeys({ keepSeconds: options.dedupeSeconds ?? 300 });
  const series = new Map<string, Series>();
  let withBuckets = 0;
  let applied = 0;
  let duplicates = 0;
  let sealedUpTo = 0;

  function seriesOf(route: string, variant: string): Series {
    const key = `${route}\u0000${variant}`;
    let s = series.get(key);
    if (s === undefined) {
      const buckets = withBuckets < maxSeries ? new SeriesBuckets(horizon) : null;
      if (buckets !== null) withBuckets++;
      s = { route, variant, buckets, byStatus: new Map(), completionTokens: 0 };
      series.set(key, s);
    }
    return s;
  }

  function sealOld(nowSecond: number): void {
    if (nowSecond <= sealedUpTo) return;
    sealedUpTo = nowSecond;
    for (const s of series.values()) s.buckets?.seal(nowSecond - 1);
  }

  return {
    apply(record, nowMs) {
      if (!seen.add(`${record.proxy}\u0000${record.requestId}\u0000${record.finishedAtMs}`, nowMs)) {
        duplicates++;
        return false;
      }
      applied++;
      const s = seriesOf(record.route, record.variant);
      s.byStatus.set(record.status, (s.byStatus.get(record.status) ?? 0) + 1);
      s.completionTokens += record.completionTokens;
      const nowSecond = Math.floor(nowMs / 1000);
      // A proxy clock ahead of ours puts the record in our current second.
      const second = Math.min(Math.floor(record.finishedAtMs / 1000), nowSecond);
      if (s.buckets !== null && second > nowSecond - horizon) s.buckets.add(second, record);
      sealOld(nowSecond);
      return true;
    },

    window(windowSeconds, nowMs, route) {
      const seconds = Math.max(1, Math.min(windowSeconds, horizon));
      const toSecond = Math.floor(nowMs / 1000);
      const fromSecond = toSecond - seconds + 1;
      const out: SeriesStats[] = [];
      for (const s of series.values()) {
        if (s.buckets === null || (route !== undefined && route !== "" && s.route !== route)) continue;
        if (s.buckets.newestSecond < fromSecond) continue;
        const w = s.buckets.window(fromSecond, toSecond);
        if (w.requests === 0) continue;
        out.push({
          route: s.route,
          variant: s.variant,
          requests: w.requests,
          requestsPerSecond: w.requests / seconds,
          errors: Object.fromEntries(w.errors),
          latencyMs: summary(w.latency),
          ttftMs: summary(w.ttft),
          tokensPerSecond: w.tokensPerSecond,
          completionTokens: w.completionTokens,
        });
      }
      out.sort((a, b) =>
        a.route === b.route ? (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0) : a.route < b.route ? -1 : 1,
      );
      return { startMs: fromSecond * 1000, endMs: nowMs, series: out, outcomesTotal: applied };
    },

    totals() {
      return [...series.values()].map((s) => ({
        route: s.route,
        variant: s.variant,
        byStatus: s.byStatus,
        completionTokens: s.completionTokens,
      }));
    },
    outcomesTotal: () => applied,
    duplicatesTotal: () => duplicates,
  };
}
