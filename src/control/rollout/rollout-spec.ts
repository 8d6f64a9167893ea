/**
 * StartRollout's request checked against the route as stored: every problem is reported at once
 * naming its field (InvalidArgument), a `from` that is not what serves the route now is
 * FailedPrecondition, and a stale `expected_revision` is Aborted. Nothing is written here.
 */
import { randomBytes } from "node:crypto";
import type { StartRolloutRequest } from "../../../gen/turnout/v1/rollout_pb.js";
import type { Route } from "../../../gen/turnout/v1/routing_pb.js";
import { ErrorCode, TurnoutError, invalidArgument, type FieldViolation } from "../../errors.ts";
import type { Stored } from "../state/state-store.ts";
import { checkExpectedRevision } from "../admin/write-guard.ts";
import { DEFAULT_INTERVAL_MS, DEFAULT_STEPS, type RolloutSpec } from "./rollout-machine.ts";

/** Shortest dwell per step, in ms. */
const MIN_INTERVAL_MS = 100;
/** Longest dwell per step, in ms (one day). */
const MAX_INTERVAL_MS = 86_400_000;

/** Rollout ids: one NATS-safe key token. */
export const ROLLOUT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A new rollout id, e.g. `r-m3x1k2pq-4f2a9c`: sortable by time, unique enough. */
export function newRolloutId(nowMs: number): string {
  return `r-${nowMs.toString(36)}-${randomBytes(3).toString("hex")}`;
}

/** Problems of the request's own fields (before the route is read). */
export function requestProblems(req: StartRolloutRequest): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (req.route === "") out.push({ field: "route", message: "must not be empty" });
  if (req.to === "") out.push({ field: "to", message: "must not be empty" });
  if (req.steps.length > 0) {
    req.steps.forEach((p, i) => {
      if (!Number.isInteger(p) || p < 1 || p > 100)
        out.push({ field: `steps[${i}]`, message: `must be a whole percent between 1 and 100, got ${p}` });
      else if (i > 0 && p <= req.steps[i - 1])
        out.push({ field: `steps[${i}]`, message: `must be greater than the step before it (${req.steps[i - 1]}), got ${p}` });
    });
    if (req.steps.at(-1) !== 100) out.push({ field: "steps", message: `must end at 100, got ${req.steps.at(-1)}` });
  }
  if (req.intervalMs !== 0 && (req.intervalMs < MIN_INTERVAL_MS || req.intervalMs > MAX_INTERVAL_MS)) {
    out.push({
      field: "interval_ms",
      message: `must be between ${MIN_INTERVAL_MS} and ${MAX_INTERVAL_MS}, got ${req.intervalMs}`,
    });
  }
  const g = req.gates;
  if (g !== undefined) {
    if (g.maxErrorRate !== undefined && !(g.maxErrorRate >= 0 && g.maxErrorRate <= 1))
      out.push({ field: "gates.max_error_rate", message: `must be between 0 and 1, got ${g.maxErrorRate}` });
    if (g.maxP99TtftMs !== undefined && !(g.maxP99TtftMs > 0))
      out.push({ field: "gates.max_p99_ttft_ms", message: `must be greater than 0, got ${g.maxP99TtftMs}` });
    if (g.minTokensPerSecond !== undefined && !(g.minTokensPerSecond > 0))
      out.push({ field: "gates.min_tokens_per_second", message: `must be greater than 0, got ${g.minTokensPerSecond}` });
    if (g.relativeAlpha !== 0 && !(g.relativeAlpha > 0 && g.relativeAlpha < 0.5))
      out.push({ field: "gates.relative_alpha", message: `must be between 0 and 0.5 (exclusive), got ${g.relativeAlpha}` });
  }
  return out;
}

/**
 * The spec of a rollout of `stored` (the route read from the store) for `req`, with id `id`.
 * Throws InvalidArgument (fields), Aborted (stale expected_revision) or FailedPrecondition.
 */
export function rolloutSpec(req: StartRolloutRequest, stored: Stored<Route>, id: string): RolloutSpec {
  const route = stored.value;
  const variants = route.variants.map((v) => v.name);
  const problems: FieldViolation[] = [];
  const known = (field: string, name: string) => {
    if (!variants.includes(name))
      problems.push({
        field,
        message: `${JSON.stringify(name)} is not a variant of route ${JSON.stringify(route.name)} (variants: ${variants.join(", ")})`,
      });
  };
  const from = req.from === "" ? route.defaultVariant : req.from;
  known("from", from);
  known("to", req.to);
  if (from === req.to) problems.push({ field: "to", message: `must differ from the stable variant ${JSON.stringify(from)}` });
  if (problems.length > 0) throw invalidArgument(problems);
  checkExpectedRevision(
    `route ${JSON.stringify(route.name)}`,
    stored.revision,
    req.expectedRevision === undefined ? undefined : Number(req.expectedRevision),
  );
  if (from !== route.defaultVariant) {
    throw new TurnoutError(
      ErrorCode.FailedPrecondition,
      `from: ${JSON.stringify(from)} does not serve route ${JSON.stringify(route.name)} now (its default variant is ${JSON.stringify(route.defaultVariant)}); a rollout starts from the default variant`,
    );
  }
  return {
    id,
    route: route.name,
    from,
    to: req.to,
    steps: req.steps.length > 0 ? [...req.steps] : [...DEFAULT_STEPS],
    intervalMs: req.intervalMs || DEFAULT_INTERVAL_MS,
    gates: req.gates,
  };
}
