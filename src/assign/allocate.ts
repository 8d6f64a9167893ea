/**
 * Bucket ownership for weighted splits. Each arm owns explicit ranges over 0..9999. A fresh split
 * is the plain contiguous split in arm order (GrowthBook's `getBucketRanges` for coverage 1); a
 * weight change moves only surplus buckets: arms that shrink give up their highest buckets, arms
 * that grow take the lowest free ones, and every other bucket stays with its arm.
 */
import { BUCKETS } from "./hash.ts";

/** Half-open range [start, end) of buckets. */
export interface Range {
  start: number;
  end: number;
}

/** An arm as the allocator sees it. */
export interface ArmAllocation {
  variant: string;
  weight: number;
  ranges: Range[];
}

/** A requested share for a variant. */
export interface ArmWeight {
  variant: string;
  weight: number;
}

/**
 * Splits BUCKETS among `weights` by largest remainder: each gets floor(w·B/W) and the buckets left
 * go one each to the largest remainders (ties to the earlier arm). Weights sum to W > 0.
 */
export function bucketTargets(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) throw new RangeError("weights must sum to more than 0");
  const exact = weights.map((w) => (w * BUCKETS) / total);
  const targets = exact.map(Math.floor);
  let left = BUCKETS - targets.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, rem: x - Math.floor(x) })).sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (const { i } of order) {
    if (left === 0) break;
    targets[i]++;
    left--;
  }
  return targets;
}

/** Ranges of the set positions in `owned` (a bucket → owner index table) for owner `index`. */
function rangesOf(owner: Int32Array, index: number): Range[] {
  const ranges: Range[] = [];
  let start = -1;
  for (let b = 0; b <= BUCKETS; b++) {
    const mine = b < BUCKETS && owner[b] === index;
    if (mine && start < 0) start = b;
    if (!mine && start >= 0) {
      ranges.push({ start, end: b });
      start = -1;
    }
  }
  return ranges;
}

/**
 * The new arms for `weights`, given the arms the route has now (`previous`, possibly empty). The
 * result lists the arms in `weights` order, including arms with weight 0 (owning nothing).
 */
export function allocateBuckets(previous: readonly ArmAllocation[], weights: readonly ArmWeight[]): ArmAllocation[] {
  const targets = bucketTargets(weights.map((w) => w.weight));
  const owner = new Int32Array(BUCKETS).fill(-1);
  const index = new Map(weights.map((w, i) => [w.variant, i]));
  for (const arm of previous) {
    const i = index.get(arm.variant);
    if (i === undefined) continue; // a removed arm's buckets become free
    for (const r of arm.ranges) for (let b = Math.max(0, r.start); b < Math.min(BUCKETS, r.end); b++) owner[b] = i;
  }
  // Shrinking arms release their highest buckets down to their target.
  const counts = new Array<number>(weights.length).fill(0);
  for (let b = 0; b < BUCKETS; b++) if (owner[b] >= 0) counts[owner[b]]++;
  for (let b = BUCKETS - 1; b >= 0; b--) {
    const i = owner[b];
    if (i >= 0 && counts[i] > targets[i]) {
      owner[b] = -1;
      counts[i]--;
    }
  }
  // Growing arms take the lowest free buckets, in arm order.
  let b = 0;
  for (let i = 0; i < weights.length; i++) {
    while (counts[i] < targets[i]) {
      while (owner[b] !== -1) b++;
      owner[b] = i;
      counts[i]++;
    }
  }
  return weights.map((w, i) => ({ variant: w.variant, weight: w.weight, ranges: rangesOf(owner, i) }));
}

/** A table of BUCKETS entries giving each bucket's arm index (-1 when no arm owns it). */
export function bucketTable(arms: readonly { ranges: readonly Range[] }[]): Int32Array {
  const table = new Int32Array(BUCKETS).fill(-1);
  arms.forEach((arm, i) => {
    for (const r of arm.ranges) table.fill(i, Math.max(0, r.start), Math.min(BUCKETS, r.end));
  });
  return table;
}
