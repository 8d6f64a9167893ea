/**
 * Per-second buckets of one metrics series (a route and variant) over a fixed horizon (default
 * one hour): a ring of `horizonSeconds` slots, each holding the requests that ended in that
 * second — count, failures by outcome class, latency and TTFT histograms, tokens. Memory is
 * bounded by the ring size and, inside a slot, by the histogram buckets touched (sealed into
 * typed arrays once the second is over). Windows merge the slots they cover.
 */
import { HistogramAccumulator, SparseHistogram } from "./log-linear-histogram.ts";

/** One request's contribution to a series. */
export interface SeriesSample {
  /** Outcome class; "ok" is success, anything else counts as an error of that class. */
  status: string;
  /** Milliseconds from request to the end of the answer. */
  latencyMs: number;
  /** Milliseconds to the first token; negative when none came. */
  ttftMs: number;
  /** Tokens generated. */
  completionTokens: number;
  /** Generation speed in tokens/s (0 = unknown, not averaged). */
  tokensPerSecond: number;
}

/** One second of a series. */
interface SecondBucket {
  second: number;
  requests: number;
  errors: Map<string, number> | null;
  latency: SparseHistogram;
  ttft: SparseHistogram;
  completionTokens: number;
  tpsSum: number;
  tpsCount: number;
}

/** What a window of a series holds. */
export interface SeriesWindow {
  requests: number;
  errors: Map<string, number>;
  latency: HistogramAccumulator;
  ttft: HistogramAccumulator;
  completionTokens: number;
  /** Mean of the known per-request generation speeds (0 when none). */
  tokensPerSecond: number;
}

/** The ring of per-second buckets of one series. */
export class SeriesBuckets {
  readonly horizonSeconds: number;
  private readonly slots: (SecondBucket | undefined)[];
  /** Slots written since the last `seal`. */
  private readonly unsealed = new Set<SecondBucket>();
  /** Newest second written (for eviction of idle series). */
  newestSecond = -Infinity;

  constructor(horizonSeconds = 3600) {
    this.horizonSeconds = horizonSeconds;
    this.slots = new Array(horizonSeconds);
  }

  /** Adds `sample` to second `second` (epoch seconds); a slot holding an older second is reset. */
  add(second: number, sample: SeriesSample): void {
    const slot = second % this.horizonSeconds;
    let b = this.slots[slot];
    if (b === undefined || b.second !== second) {
      if (b !== undefined && b.second > second) return; // older than the horizon the slot now holds
      b = {
        second,
        requests: 0,
        errors: null,
        latency: new SparseHistogram(),
        ttft: new SparseHistogram(),
        completionTokens: 0,
        tpsSum: 0,
        tpsCount: 0,
      };
      this.slots[slot] = b;
    }
    b.requests++;
    if (sample.status !== "ok") {
      b.errors ??= new Map();
      b.errors.set(sample.status, (b.errors.get(sample.status) ?? 0) + 1);
    }
    b.latency.add(sample.latencyMs);
    if (sample.ttftMs >= 0) b.ttft.add(sample.ttftMs);
    b.completionTokens += sample.completionTokens;
    if (sample.tokensPerSecond > 0) {
      b.tpsSum += sample.tokensPerSecond;
      b.tpsCount++;
    }
    if (second > this.newestSecond) this.newestSecond = second;
    this.unsealed.add(b);
  }

  /** Seals the histograms of every slot older than `beforeSecond` (they rarely change again). */
  seal(beforeSecond: number): void {
    for (const b of this.unsealed) {
      if (b.second >= beforeSecond) continue;
      b.latency.seal();
      b.ttft.seal();
      this.unsealed.delete(b);
    }
  }

  /** Merges the seconds `fromSecond..toSecond` (inclusive). */
  window(fromSecond: number, toSecond: number): SeriesWindow {
    const w: SeriesWindow = {
      requests: 0,
      errors: new Map(),
      latency: new HistogramAccumulator(),
      ttft: new HistogramAccumulator(),
      completionTokens: 0,
      tokensPerSecond: 0,
    };
    let tpsSum = 0;
    let tpsCount = 0;
    for (const b of this.slots) {
      if (b === undefined || b.second < fromSecond || b.second > toSecond) continue;
      w.requests += b.requests;
      if (b.errors !== null) for (const [k, v] of b.errors) w.errors.set(k, (w.errors.get(k) ?? 0) + v);
      w.latency.merge(b.latency);
      w.ttft.merge(b.ttft);
      w.completionTokens += b.completionTokens;
      tpsSum += b.tpsSum;
      tpsCount += b.tpsCount;
    }
    w.tokensPerSecond = tpsCount === 0 ? 0 : tpsSum / tpsCount;
    return w;
  }
}
