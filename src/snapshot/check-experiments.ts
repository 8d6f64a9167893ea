/**
 * The consistency check of a snapshot's running experiments (part of `checkSnapshot`): unique ids;
 * the route and every arm's variant resolve; each experiment's arm ranges are valid, disjoint and
 * cover 0..9999 exactly once; the targeting rule is valid; its layer buckets are valid and shared
 * with no other experiment of the layer; experiments on one route share one layer (so that at
 * most one of them decides a request's variant); declared feedback metrics have valid names and
 * ranges. The experiments kept for feedback only have unique ids of their own, at least one phase
 * and arm, and valid metrics. Problems as FieldViolations.
 */
import type { ExperimentSnapshot, FeedbackExperimentSnapshot, Route } from "../../gen/turnout/v1/routing_pb.js";
import { BUCKETS } from "../assign/hash.ts";
import { validateTargeting } from "../assign/targeting/validate-targeting.ts";
import type { FieldViolation } from "../errors.ts";
import { feedbackMetricProblems } from "./feedback-rules.ts";

/** Checks `ranges` under `path` against `owner` (bucket → owner index) for owner `index`. */
function claim(
  ranges: readonly { start: number; end: number }[],
  path: string,
  owner: Int32Array,
  index: number,
  ownerName: (i: number) => string,
  problems: FieldViolation[],
): number {
  let owned = 0;
  ranges.forEach((r, k) => {
    const rpath = `${path}[${k}]`;
    if (r.start >= r.end || r.end > BUCKETS)
      return void problems.push({ field: rpath, message: `[${r.start}, ${r.end}) must satisfy start < end <= ${BUCKETS}` });
    for (let b = r.start; b < r.end; b++) {
      if (owner[b] >= 0 && owner[b] !== index)
        return void problems.push({ field: rpath, message: `bucket ${b} is also owned by ${ownerName(owner[b])}` });
      owner[b] = index;
    }
    owned += r.end - r.start;
  });
  return owned;
}

/** Appends every problem of `experiments` (checked against `routes`) to `problems`. */
export function checkExperiments(
  experiments: readonly ExperimentSnapshot[],
  routes: readonly Route[],
  problems: FieldViolation[],
): void {
  const byRoute = new Map(routes.map((r) => [r.name, r]));
  const ids = new Set<string>();
  const layers = new Map<string, { owner: Int32Array; members: number[] }>();
  const routeLayer = new Map<string, string>();
  experiments.forEach((e, i) => {
    const path = `experiments[${i}]`;
    if (e.id === "") problems.push({ field: `${path}.id`, message: "must not be empty" });
    else if (ids.has(e.id)) problems.push({ field: `${path}.id`, message: `duplicate experiment id ${JSON.stringify(e.id)}` });
    ids.add(e.id);
    const route = byRoute.get(e.route);
    if (route === undefined)
      problems.push({ field: `${path}.route`, message: `route ${JSON.stringify(e.route)} does not exist` });
    if (e.seed === "") problems.push({ field: `${path}.seed`, message: "must not be empty" });
    if (e.arms.length === 0) problems.push({ field: `${path}.arms`, message: "must have at least one arm" });
    const owner = new Int32Array(BUCKETS).fill(-1);
    e.arms.forEach((arm, a) => {
      const apath = `${path}.arms[${a}]`;
      if (route !== undefined && !route.variants.some((v) => v.name === arm.variant)) {
        problems.push({
          field: `${apath}.variant`,
          message: `variant ${JSON.stringify(arm.variant)} does not exist in route ${JSON.stringify(e.route)}`,
        });
      }
      claim(arm.ranges, `${apath}.ranges`, owner, a, (x) => `${path}.arms[${x}]`, problems);
    });
    const free = owner.indexOf(-1);
    if (e.arms.length > 0 && free >= 0)
      problems.push({ field: `${path}.arms`, message: `bucket ${free} is owned by no arm (arms must cover 0..${BUCKETS - 1})` });
    if (e.targeting !== undefined) {
      const v = validateTargeting(e.targeting, `${path}.targeting`);
      if (!v.ok) problems.push(...v.violations);
    }
    if (e.layer === "") problems.push({ field: `${path}.layer`, message: "must not be empty" });
    if (e.layerSeed === "") problems.push({ field: `${path}.layer_seed`, message: "must not be empty" });
    let layer = layers.get(e.layer);
    if (layer === undefined) layers.set(e.layer, (layer = { owner: new Int32Array(BUCKETS).fill(-1), members: [] }));
    layer.members.push(i);
    claim(
      e.layerRanges,
      `${path}.layer_ranges`,
      layer.owner,
      i,
      (x) => `experiments[${x}] (${JSON.stringify(experiments[x].id)})`,
      problems,
    );
    problems.push(...feedbackMetricProblems(e.feedbackMetrics, `${path}.feedback_metrics`));
    const other = routeLayer.get(e.route);
    if (other === undefined) routeLayer.set(e.route, e.layer);
    else if (other !== e.layer) {
      problems.push({
        field: `${path}.layer`,
        message: `experiments on route ${JSON.stringify(e.route)} must share one layer (another is in layer ${JSON.stringify(other)})`,
      });
    }
  });
  for (const [name, layer] of layers) {
    const seeds = new Set(layer.members.map((i) => experiments[i].layerSeed));
    if (seeds.size > 1)
      problems.push({
        field: `experiments[${layer.members[1]}].layer_seed`,
        message: `experiments of layer ${JSON.stringify(name)} must share one layer seed`,
      });
  }
}

/** Appends every problem of the experiments kept for feedback only (`running`: the running ones) to `problems`. */
export function checkFeedbackExperiments(
  experiments: readonly FeedbackExperimentSnapshot[],
  running: readonly ExperimentSnapshot[],
  problems: FieldViolation[],
): void {
  const ids = new Set(running.map((e) => e.id));
  experiments.forEach((e, i) => {
    const path = `feedback_experiments[${i}]`;
    if (e.id === "") problems.push({ field: `${path}.id`, message: "must not be empty" });
    else if (ids.has(e.id)) problems.push({ field: `${path}.id`, message: `duplicate experiment id ${JSON.stringify(e.id)}` });
    ids.add(e.id);
    if (e.phases < 1) problems.push({ field: `${path}.phases`, message: "must be at least 1" });
    if (e.arms < 1) problems.push({ field: `${path}.arms`, message: "must be at least 1" });
    problems.push(...feedbackMetricProblems(e.feedbackMetrics, `${path}.feedback_metrics`));
  });
}
