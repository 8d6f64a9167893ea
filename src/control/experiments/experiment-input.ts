/**
 * Validation and normalisation of a Create request into a stored DRAFT Experiment. Every problem
 * is collected with its request field (`arms[1].weight: must be a non-negative number`) and
 * answered at once as `invalid_argument`; nothing is stored when any is found. Declared feedback
 * metrics are stored with both bounds set (an unset one takes the default range's). Pure: the
 * routes and the clock are parameters.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ExperimentArmSchema,
  ExperimentFeedbackMetricSchema,
  ExperimentSchema,
  ExperimentStatus,
  type Experiment,
  type ExperimentServiceCreateRequest,
} from "../../../gen/turnout/v1/experiment_pb.js";
import type { Route } from "../../../gen/turnout/v1/routing_pb.js";
import { validateTargeting } from "../../assign/targeting/validate-targeting.ts";
import { EXPERIMENT_DURATION, parseDuration } from "../../duration.ts";
import { invalidArgument, type FieldViolation } from "../../errors.ts";
import { DEFAULT_FEEDBACK_RANGE, feedbackMetricProblems } from "../../snapshot/feedback-rules.ts";

/** Experiment ids: safe as store keys and in `x-turnout-ref`. */
export const EXPERIMENT_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const METRIC = /^[A-Za-z0-9_.:-]{1,64}$/;
const LAYER = /^[A-Za-z0-9_.:/-]{1,128}$/;
const MAX_ARMS = 16;

/** Milliseconds of a stored experiment's `duration` ({@link EXPERIMENT_DURATION}); 0 when it is
 * not one (never stored: Create refuses it). */
export function experimentDurationMs(text: string): number {
  const r = parseDuration(text, EXPERIMENT_DURATION);
  return r.ok ? r.ms : 0;
}

/** A lower-case id from `name` plus a random suffix, e.g. "faster-model-3f9a". */
export function idFromName(name: string, random: () => string): string {
  const slug =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 48) || "experiment";
  return `${slug}-${random()}`;
}

/** The route an experiment with these arm variants runs on when the request names none. */
function inferRoute(routes: readonly Route[], variants: readonly string[], out: FieldViolation[]): Route | undefined {
  const fits = routes.filter((r) => variants.every((v) => r.variants.some((x) => x.name === v)));
  if (fits.length === 1) return fits[0];
  const why =
    fits.length === 0
      ? "no route has variants named"
      : `${fits.length} routes (${fits.map((r) => r.name).join(", ")}) have variants named`;
  out.push({ field: "route", message: `must be set: ${why} ${variants.map((v) => JSON.stringify(v)).join(", ")}` });
  return undefined;
}

/**
 * The DRAFT experiment for `req`, or `invalid_argument` listing every problem. `routes` is the
 * stored desired state's routes; `id` is used when the request carries none.
 */
export function experimentFromRequest(
  req: ExperimentServiceCreateRequest,
  routes: readonly Route[],
  id: string,
  now: Date,
): Experiment {
  const out: FieldViolation[] = [];
  if (req.id !== "" && !EXPERIMENT_ID.test(req.id))
    out.push({
      field: "id",
      message: "must be 1..64 of lower-case letters, digits, '.', '_' and '-', starting with a letter or digit",
    });
  if (req.name.trim() === "") out.push({ field: "name", message: "must not be empty" });
  else if (req.name.length > 200) out.push({ field: "name", message: "must be at most 200 characters" });

  if (req.arms.length < 2) out.push({ field: "arms", message: `must have at least two arms, got ${req.arms.length}` });
  if (req.arms.length > MAX_ARMS)
    out.push({ field: "arms", message: `must have at most ${MAX_ARMS} arms, got ${req.arms.length}` });
  const names = new Set<string>();
  let total = 0;
  req.arms.forEach((arm, i) => {
    if (arm.name === "") out.push({ field: `arms[${i}].name`, message: "must not be empty" });
    else if (names.has(arm.name))
      out.push({ field: `arms[${i}].name`, message: `duplicate arm name ${JSON.stringify(arm.name)}` });
    names.add(arm.name);
    if (!Number.isFinite(arm.weight) || arm.weight < 0)
      out.push({ field: `arms[${i}].weight`, message: `must be a non-negative number, got ${arm.weight}` });
    else total += arm.weight;
  });
  if (req.arms.length >= 2 && total <= 0) out.push({ field: "arms", message: "weights must sum to more than 0" });

  const variants = req.arms.map((a) => a.variant || a.name).filter((v) => v !== "");
  let route: Route | undefined;
  if (req.route !== "") {
    route = routes.find((r) => r.name === req.route);
    if (route === undefined) out.push({ field: "route", message: `route ${JSON.stringify(req.route)} does not exist` });
  } else if (variants.length === req.arms.length && req.arms.length >= 2) route = inferRoute(routes, variants, out);
  if (route !== undefined) {
    const known = route.variants.map((v) => v.name);
    req.arms.forEach((arm, i) => {
      const variant = arm.variant || arm.name;
      if (variant !== "" && !known.includes(variant)) {
        out.push({
          field: `arms[${i}].${arm.variant ? "variant" : "name"}`,
          message: `${JSON.stringify(variant)} is not a variant of route ${JSON.stringify(route.name)} (variants: ${known.join(", ")})`,
        });
      }
    });
  }

  if (req.targeting !== undefined) {
    const v = validateTargeting(req.targeting, "targeting");
    if (!v.ok) out.push(...v.violations);
  }
  if (req.layer !== "" && !LAYER.test(req.layer))
    out.push({ field: "layer", message: "must be 1..128 of letters, digits, '_', '.', ':', '/' and '-'" });
  if (!Number.isFinite(req.layerPercent) || req.layerPercent < 0 || req.layerPercent > 100)
    out.push({ field: "layer_percent", message: `must be from 0 to 100 (0 means 100), got ${req.layerPercent}` });

  const duration = parseDuration(req.duration, EXPERIMENT_DURATION);
  if (req.duration === "") out.push({ field: "duration", message: 'must be set, e.g. "24h"' });
  else if (!duration.ok) out.push({ field: "duration", message: duration.message });

  const metricProblem = (m: string) => (METRIC.test(m) ? undefined : "must be 1..64 of letters, digits, '_', '.', ':' and '-'");
  req.metrics.forEach((m, i) => {
    const p = metricProblem(m);
    if (p) out.push({ field: `metrics[${i}]`, message: p });
  });
  req.guardrailMetrics.forEach((m, i) => {
    const p = metricProblem(m);
    if (p) out.push({ field: `guardrail_metrics[${i}]`, message: p });
  });
  if (req.primaryMetric !== "" && metricProblem(req.primaryMetric))
    out.push({ field: "primary_metric", message: metricProblem(req.primaryMetric) as string });
  // unset bounds take the default range's
  const feedbackMetrics = req.feedbackMetrics.map((m) => ({
    name: m.name,
    min: m.min ?? DEFAULT_FEEDBACK_RANGE.min,
    max: m.max ?? DEFAULT_FEEDBACK_RANGE.max,
  }));
  out.push(...feedbackMetricProblems(feedbackMetrics, "feedback_metrics"));
  if (out.length > 0) throw invalidArgument(out);

  const routeName = (route as Route).name;
  return create(ExperimentSchema, {
    id: req.id || id,
    name: req.name,
    route: routeName,
    arms: req.arms.map((a) => create(ExperimentArmSchema, { name: a.name, variant: a.variant || a.name, weight: a.weight })),
    targeting: req.targeting,
    layer: req.layer || `route:${routeName}`,
    layerPercent: req.layerPercent || 100,
    duration: req.duration,
    metrics: [...req.metrics],
    primaryMetric: req.primaryMetric || req.metrics[0] || "",
    guardrailMetrics: [...req.guardrailMetrics],
    feedbackMetrics: feedbackMetrics.map((m) => create(ExperimentFeedbackMetricSchema, m)),
    status: ExperimentStatus.DRAFT,
    createdAt: timestampFromDate(now),
  });
}
