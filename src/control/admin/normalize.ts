/**
 * Normalisation of validated input into the form that is stored: defaults filled in (seed,
 * default variant), base URLs without a trailing slash, and arms given as weights turned into
 * explicit bucket ranges relative to the stored route, so that only surplus buckets move.
 */
import { clone, create } from "@bufbuild/protobuf";
import { ArmSchema, NodeSchema, RouteSchema, type Arm, type Node, type Route } from "../../../gen/turnout/v1/routing_pb.js";
import { allocateBuckets, bucketTable } from "../../assign/allocate.ts";
import { BUCKETS } from "../../assign/hash.ts";

/** The seed a route gets when none is given: phase 1 of the route's name. */
function defaultSeed(routeName: string): string {
  return `${routeName}:1`;
}

/** A copy of `node` with the base URL's trailing slashes removed. */
export function normalizeNode(node: Node): Node {
  const out = clone(NodeSchema, node);
  out.baseUrl = out.baseUrl.replace(/\/+$/, "");
  return out;
}

/** True when the arms' ranges already cover every bucket once, each arm owning weight·100. */
function rangesMatchWeights(arms: readonly Arm[]): boolean {
  const table = bucketTable(arms);
  const counts = new Array<number>(arms.length).fill(0);
  for (const owner of table) {
    if (owner < 0) return false;
    counts[owner]++;
  }
  const owned = arms.map((a) => a.ranges.reduce((n, r) => n + (r.end - r.start), 0));
  return arms.every((a, i) => counts[i] === a.weight * (BUCKETS / 100) && owned[i] === counts[i]);
}

/**
 * Arms for `weights` with explicit ranges. Ranges already consistent with the weights are kept as
 * given (a read-modify-write round trip changes nothing); otherwise they are allocated from the
 * `previous` arms with `allocateBuckets`, so a weight change moves only surplus buckets.
 */
export function resolveArms(arms: readonly Arm[], previous: readonly Arm[]): Arm[] {
  if (arms.length === 0) return [];
  if (rangesMatchWeights(arms)) return arms.map((a) => clone(ArmSchema, a));
  const allocated = allocateBuckets(
    previous.map((a) => ({
      variant: a.variant,
      weight: a.weight,
      ranges: a.ranges.map((r) => ({ start: r.start, end: r.end })),
    })),
    arms.map((a) => ({ variant: a.variant, weight: a.weight })),
  );
  return allocated.map((a) => create(ArmSchema, { variant: a.variant, weight: a.weight, ranges: a.ranges }));
}

/**
 * A copy of a validated `route` ready to store: the default variant filled in when there is one
 * variant, the seed defaulted to `<name>:1`, and the arms' ranges resolved against `stored` (the
 * route as stored now, if any).
 */
export function normalizeRoute(route: Route, stored?: Route): Route {
  const out = clone(RouteSchema, route);
  if (out.defaultVariant === "" && out.variants.length === 1) out.defaultVariant = out.variants[0].name;
  if (out.seed === "") out.seed = stored?.seed || defaultSeed(out.name);
  out.arms = resolveArms(route.arms, stored?.arms ?? []);
  return out;
}
