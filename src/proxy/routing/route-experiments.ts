/**
 * A route's running experiments as the hot path evaluates them, and the assignment through them:
 * the unit's layer bucket (the layer's own seed) picks at most one experiment of the layer; that
 * experiment's targeting rule must match the request's attributes (`x-turnout-attr-*` headers and
 * the body's `metadata`); then the unit's bucket under the phase seed picks the arm. A request
 * without a unit, outside the layer share or outside the rule is not in the experiment: it gets
 * what the route gives without one (`assignVariant`) and is not counted. Every answer in an
 * experiment carries a signed `x-turnout-ref`.
 */
import type { KeyObject } from "node:crypto";
import type { FieldViolation } from "../../errors.ts";
import type { RoutingSnapshot } from "../../../gen/turnout/v1/routing_pb.js";
import { bucketTable } from "../../assign/allocate.ts";
import { signRef } from "../../assign/feedback-ref.ts";
import { createBucketer, fnv1a32 } from "../../assign/hash.ts";
import { compileLayer, type CompiledLayer } from "../../assign/layers.ts";
import { attributesOf, type HeaderBag } from "../../assign/targeting/attributes-of.ts";
import { compileTargeting } from "../../assign/targeting/compile-targeting.ts";
import type { TargetingRule } from "../../assign/targeting/rule.ts";
import type { CompiledExperiment, CompiledVariant, RouteExperiments } from "../snapshot/compiled-route.ts";
import type { Assignment } from "./assignment.ts";

/**
 * Compiles the snapshot's experiments per route (`variantsOf(route)` resolves variant names; the
 * snapshot was checked, so every name resolves). Experiments of one layer share its bucket table
 * across routes, so a unit is in at most one of them wherever it goes.
 */
export function compileRouteExperiments(
  snapshot: RoutingSnapshot,
  variantsOf: (route: string) => ReadonlyMap<string, CompiledVariant> | undefined,
): Map<string, RouteExperiments> {
  const out = new Map<string, RouteExperiments>();
  if (snapshot.experiments.length === 0) return out;
  const layers = new Map<string, CompiledLayer>();
  for (const e of snapshot.experiments) {
    if (layers.has(e.layer)) continue;
    const members = snapshot.experiments.filter((x) => x.layer === e.layer);
    layers.set(
      e.layer,
      compileLayer(
        e.layerSeed,
        members.map((x) => ({
          experiment: x.id,
          percent: 0,
          ranges: x.layerRanges.map((r) => ({ start: r.start, end: r.end })),
        })),
      ),
    );
  }
  for (const e of snapshot.experiments) {
    const variants = variantsOf(e.route);
    if (variants === undefined) continue;
    const layer = layers.get(e.layer) as CompiledLayer;
    let entry = out.get(e.route);
    if (entry === undefined) out.set(e.route, (entry = { layer, bySlot: layer.experiments.map(() => undefined) }));
    const arms = e.arms.map((a) => variants.get(a.variant) as CompiledVariant);
    (entry.bySlot as (CompiledExperiment | undefined)[])[layer.experiments.indexOf(e.id)] = {
      id: e.id,
      phase: e.phase,
      arms,
      armNames: e.arms.map((a) => a.name),
      bucketOf: createBucketer(e.seed),
      buckets: bucketTable(e.arms.map((a) => ({ ranges: a.ranges.map((r) => ({ start: r.start, end: r.end })) }))),
      targeting: compileTargeting(e.targeting as TargetingRule | undefined, `experiments[${e.id}].targeting`),
    };
  }
  return out;
}

/**
 * The experiment assignment of a request with `unit` (none: undefined or "") on a route with
 * experiments `rx`; `headers` and the body's `metadata` (undefined when none) give its targeting
 * attributes, `requestId`, `snapshotVersion` and `key` sign its ref. Answers undefined when the
 * request is not in any of them (the caller falls back to `assignVariant`), or the problems with
 * the request's attributes (an array, answered 400). Positional, so that the hot path builds
 * no argument object.
 */
export function assignExperiment(
  rx: RouteExperiments,
  unit: string | undefined,
  headers: HeaderBag,
  metadata: unknown,
  requestId: string,
  snapshotVersion: number,
  key: KeyObject,
): Assignment | FieldViolation[] | undefined {
  if (!unit) return undefined;
  const slot = rx.layer.experimentOf(unit);
  const e = slot < 0 ? undefined : rx.bySlot[slot];
  if (e === undefined) return undefined;
  let matches = true;
  if (e.targeting.attributes.length > 0) {
    const attrs = attributesOf(headers, metadata);
    if (!attrs.ok) return [...attrs.violations];
    matches = e.targeting.matches(attrs.attributes, unit);
  } else if (e.targeting.usesUnit) matches = e.targeting.matches({}, unit);
  if (!matches) return undefined;
  const bucket = e.bucketOf(unit);
  const arm = e.buckets[bucket];
  if (arm < 0) return undefined;
  const unitHash = fnv1a32(unit).toString(16);
  const ref = signRef({ experiment: e.id, phase: e.phase, arm, unitHash, requestId, snapshotVersion, issuedAt: Date.now() }, key);
  return { variant: e.arms[arm], arm: e.armNames[arm], bucket, unitHash, experiment: { id: e.id, phase: e.phase, arm, ref } };
}
