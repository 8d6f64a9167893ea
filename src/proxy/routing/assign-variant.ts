/**
 * Deterministic, stateless assignment of a request to a variant of its route. No unit → the
 * default variant (not counted in experiments). With a unit and a split, the unit's GrowthBook v2
 * bucket picks the arm that owns it; buckets no arm owns fall back to the default variant.
 */
import { bucketOf, fnv1a32 } from "../../assign/hash.ts";
import type { CompiledRoute } from "../snapshot/compiled-route.ts";
import type { Assignment } from "./assignment.ts";

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
