/**
 * Deterministic, stateless assignment of a request to a variant of its route. No unit → the
 * default variant (not counted in experiments). With a unit and a split, the unit's GrowthBook v2
 * bucket picks the arm that owns it; buckets no arm owns fall back to the default variant.
 */
import { bucketOf, fnv1a32 } from "../../assign/hash.ts";
import type { CompiledRoute, CompiledVariant } from "../snapshot/routing-table.ts";
import type { ExperimentAssignment } from "./route-experiments.ts";

/** Where a request goes. */
export interface Assignment {
  readonly variant: CompiledVariant;
  /** Arm (its variant name) when the request was assigned by bucket; "" otherwise. */
  readonly arm: string;
  /** Bucket 0..9999, or -1 when there was no unit or no split. */
  readonly bucket: number;
  /** Hex FNV-1a of the unit ("" for none), for outcome records without raw user ids. */
  readonly unitHash: string;
  /** Set only when the request is counted in an experiment (see route-experiments.ts). */
  readonly experiment?: ExperimentAssignment;
}

/** Assigns `unit` (possibly undefined or empty) on `route`. */
export function assignVariant(route: CompiledRoute, unit: string | undefined): Assignment {
  if (!unit) return { variant: route.defaultVariant, arm: "", bucket: -1, unitHash: "" };
  const unitHash = fnv1a32(unit).toString(16);
  if (route.buckets === null) return { variant: route.defaultVariant, arm: "", bucket: -1, unitHash };
  const bucket = bucketOf(route.seed, unit);
  const index = route.buckets[bucket];
  if (index < 0) return { variant: route.defaultVariant, arm: "", bucket, unitHash };
  const variant = route.arms[index];
  return { variant, arm: variant.name, bucket, unitHash };
}
