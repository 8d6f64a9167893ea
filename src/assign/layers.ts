/**
 * Layers: mutual exclusion between experiments. A layer has its own seed; a unit's layer bucket
 * (GrowthBook v2 hash under the layer seed, 0..9999) decides which experiment of the layer, if
 * any, it may enter; that experiment's own seed then picks the arm. Each experiment owns explicit
 * ranges of the layer's buckets, allocated like arms (`allocate.ts`): a fresh layer is the plain
 * contiguous split in experiment order with the unclaimed rest at the top, and a change of shares
 * moves only surplus buckets. A unit is in at most one experiment of a layer; experiments in
 * different layers overlap independently because the layers' seeds differ.
 */
import { invalidArgument, type FieldViolation } from "../errors.ts";
import { allocateBuckets, bucketTable, type Range } from "./allocate.ts";
import { BUCKETS, createBucketer } from "./hash.ts";

/** An experiment's requested share of its layer. */
export interface LayerShare {
  /** Experiment id (non-empty, unique in the layer). */
  readonly experiment: string;
  /** Percent of the layer's units, 0..100; the layer's shares sum to at most 100. */
  readonly percent: number;
}

/** An experiment's place in its layer: its share and the layer buckets it owns. */
export interface LayerSlot extends LayerShare {
  readonly ranges: readonly Range[];
}

/** A layer as the proxy evaluates it. */
export interface CompiledLayer {
  /** Experiment ids, in slot order. */
  readonly experiments: readonly string[];
  /** The unit's bucket under the layer seed, 0..9999. */
  bucketOf(unit: string): number;
  /** Index (in `experiments`) of the experiment the unit may enter; -1 for none or no unit. */
  experimentOf(unit: string | undefined): number;
}

/**
 * The unclaimed part of a layer, as the last arm, named so no experiment id can take it. It owns
 * no buckets beforehand: which unclaimed bucket is which does not matter, as no unit in one is
 * in an experiment, so growing experiments simply take the lowest unclaimed buckets.
 */
const FREE = "";
/** Slack for shares that sum to 100 up to floating-point rounding. */
const EPSILON = 1e-9;

/** Every problem with `shares` under `path` (e.g. `layer.experiments[1].percent`). */
export function validateLayerShares(shares: readonly LayerShare[], path = "experiments"): FieldViolation[] {
  const out: FieldViolation[] = [];
  const seen = new Set<string>();
  let sum = 0;
  shares.forEach((share, i) => {
    const at = `${path}[${i}]`;
    if (typeof share.experiment !== "string" || share.experiment === "")
      out.push({ field: `${at}.experiment`, message: "must be a non-empty experiment id" });
    else if (seen.has(share.experiment))
      out.push({ field: `${at}.experiment`, message: `duplicate experiment ${JSON.stringify(share.experiment)} in the layer` });
    seen.add(share.experiment);
    if (typeof share.percent !== "number" || !Number.isFinite(share.percent) || share.percent < 0 || share.percent > 100) {
      out.push({ field: `${at}.percent`, message: "must be a number from 0 to 100" });
    } else sum += share.percent;
  });
  if (sum > 100 + EPSILON) out.push({ field: path, message: `shares sum to ${Number(sum.toFixed(4))}%, more than 100%` });
  return out;
}

/**
 * The layer's new slots for `shares`, given its slots now (`previous`, possibly empty): only
 * surplus buckets move, so a unit whose layer bucket is kept stays with its experiment. Slots come
 * back in `shares` order (a share of 0 owns nothing). Invalid shares throw `invalid_argument`.
 */
export function allocateLayer(previous: readonly LayerSlot[], shares: readonly LayerShare[]): LayerSlot[] {
  const problems = validateLayerShares(shares);
  if (problems.length > 0) throw invalidArgument(problems);
  const claimed = shares.reduce((sum, s) => sum + s.percent, 0);
  const arms = allocateBuckets(
    previous.map((s) => ({ variant: s.experiment, weight: s.percent, ranges: [...s.ranges] })),
    [...shares.map((s) => ({ variant: s.experiment, weight: s.percent })), { variant: FREE, weight: Math.max(0, 100 - claimed) }],
  );
  return shares.map((s, i) => ({ experiment: s.experiment, percent: s.percent, ranges: arms[i].ranges }));
}

/** Problems with slots' ranges: each within 0..10000, non-empty, and no bucket owned twice. */
export function layerSlotProblems(slots: readonly LayerSlot[], path = "experiments"): FieldViolation[] {
  const out: FieldViolation[] = [];
  const owner = new Int32Array(BUCKETS).fill(-1);
  slots.forEach((slot, i) => {
    slot.ranges.forEach((r, k) => {
      const field = `${path}[${i}].ranges[${k}]`;
      if (!Number.isInteger(r.start) || !Number.isInteger(r.end) || r.start < 0 || r.end > BUCKETS || r.start >= r.end) {
        return void out.push({ field, message: `must be a non-empty range within 0..${BUCKETS}` });
      }
      for (let b = r.start; b < r.end; b++) {
        if (owner[b] >= 0 && owner[b] !== i)
          return void out.push({ field, message: `bucket ${b} is also owned by ${JSON.stringify(slots[owner[b]].experiment)}` });
        owner[b] = i;
      }
    });
  });
  return out;
}

/** Compiles a layer (its seed and slots) for evaluation; overlapping slots throw `invalid_argument`. */
export function compileLayer(seed: string, slots: readonly LayerSlot[]): CompiledLayer {
  const problems = layerSlotProblems(slots);
  if (problems.length > 0) throw invalidArgument(problems);
  const table = bucketTable(slots);
  const bucketOf = createBucketer(seed);
  return {
    experiments: slots.map((s) => s.experiment),
    bucketOf,
    experimentOf: (unit) => (unit ? table[bucketOf(unit)] : -1),
  };
}
