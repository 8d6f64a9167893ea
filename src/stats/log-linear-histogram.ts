/**
 * A log-linear (HDR-style) histogram of non-negative values in milliseconds: exact to 1 µs below
 * 0.128 ms, then 64 linear sub-buckets per power of two, so a bucket is at most 1/64 of its lower
 * bound wide and a percentile read at the bucket's midpoint is within ~0.8% of the true value
 * (clamped to the exact min and max). Bucket indexes are the same for every histogram, so
 * histograms merge by adding counts. `SparseHistogram` holds one time slice (a map of the buckets
 * it touched, sealed into two typed arrays once the slice is complete); `HistogramAccumulator`
 * merges slices densely to answer percentiles for a window.
 */

/** Value of one index unit, in ms (1 µs). */
const RESOLUTION_MS = 0.001;
/** Sub-buckets per power of two. */
const SUB = 64;
/** Values below this many units are counted exactly. */
const LINEAR = 2 * SUB;
/** Largest power of two tracked (2^42 µs ≈ 51 days); larger values land in the last bucket. */
const MAX_EXP = 42;
/** Number of buckets of every histogram. */
export const BUCKET_COUNT = LINEAR + (MAX_EXP - 7 + 1) * SUB;

/** Bucket index of `valueMs` (negative and NaN count as 0). */
export function bucketIndex(valueMs: number): number {
  const u = Math.floor(valueMs / RESOLUTION_MS);
  if (!(u >= LINEAR)) return u > 0 ? u : 0;
  let e = Math.floor(Math.log2(u));
  if (2 ** e > u) e--;
  else if (2 ** (e + 1) <= u) e++;
  if (e > MAX_EXP) return BUCKET_COUNT - 1;
  const width = 2 ** (e - 6);
  return LINEAR + (e - 7) * SUB + (Math.floor(u / width) - SUB);
}

/** Lower bound of bucket `index`, in ms. */
export function bucketLowerMs(index: number): number {
  if (index < LINEAR) return index * RESOLUTION_MS;
  const k = index - LINEAR;
  const e = 7 + Math.floor(k / SUB);
  return (SUB + (k % SUB)) * 2 ** (e - 6) * RESOLUTION_MS;
}

/** Width of bucket `index`, in ms. */
export function bucketWidthMs(index: number): number {
  if (index < LINEAR) return RESOLUTION_MS;
  return 2 ** (7 + Math.floor((index - LINEAR) / SUB) - 6) * RESOLUTION_MS;
}

/** The histogram of one time slice. Start with `add`, `seal` when the slice is complete. */
export class SparseHistogram {
  /** Samples added. */
  count = 0;
  /** Sum of the samples, ms. */
  sum = 0;
  min = Infinity;
  max = -Infinity;
  private open: Map<number, number> | null = new Map();
  private indexes: Uint16Array | null = null;
  private counts: Uint32Array | null = null;

  /** Adds one sample (negative values count as 0). */
  add(valueMs: number): void {
    const v = valueMs > 0 ? valueMs : 0;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const map = this.open ?? this.unseal();
    const i = bucketIndex(v);
    map.set(i, (map.get(i) ?? 0) + 1);
  }

  /** Packs the buckets into typed arrays (about 6 bytes a bucket); `add` still works after. */
  seal(): void {
    const map = this.open;
    if (map === null) return;
    const keys = [...map.keys()].sort((a, b) => a - b);
    this.indexes = Uint16Array.from(keys);
    this.counts = Uint32Array.from(keys, (k) => map.get(k) ?? 0);
    this.open = null;
  }

  /** Calls `fn` for every non-empty bucket. */
  forEach(fn: (index: number, count: number) => void): void {
    if (this.open !== null) {
      for (const [i, c] of this.open) fn(i, c);
      return;
    }
    const idx = this.indexes!;
    const cnt = this.counts!;
    for (let j = 0; j < idx.length; j++) fn(idx[j], cnt[j]);
  }

  private unseal(): Map<number, number> {
    const map = new Map<number, number>();
    this.forEach((i, c) => map.set(i, c));
    this.open = map;
    this.indexes = null;
    this.counts = null;
    return map;
  }
}

/** Merges histograms over a window and reads percentiles. */
export class HistogramAccumulator {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  private readonly counts = new Float64Array(BUCKET_COUNT);

  /** Adds every sample of `h`. */
  merge(h: SparseHistogram): void {
    if (h.count === 0) return;
    this.count += h.count;
    this.sum += h.sum;
    if (h.min < this.min) this.min = h.min;
    if (h.max > this.max) this.max = h.max;
    const counts = this.counts;
    h.forEach((i, c) => {
      counts[i] += c;
    });
  }

  /** Mean of the samples (0 when empty). */
  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /**
   * The `q`-quantile (0 < q ≤ 1) by nearest rank: the midpoint of the bucket holding the
   * ⌈q·n⌉-th smallest sample, clamped to the exact min and max. 0 when empty.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    if (rank >= this.count) return this.max;
    let seen = 0;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i];
      if (seen >= rank) {
        const mid = bucketLowerMs(i) + bucketWidthMs(i) / 2;
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }
}
