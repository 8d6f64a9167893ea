/**
 * The feedback rules both sides share: how long a ref takes feedback by default, the metric name
 * grammar, the default range of a metric an experiment did not declare, the largest magnitude a
 * declared range (and so an accepted value) may have, and the check of declared metrics.
 *
 * The magnitude limit is what keeps the control plane's sums finite: 2,000,000 units × a million
 * feedback entries each × 1e12 is 2e24, and the per-user variances square per-user means — far
 * below Number.MAX_VALUE (1.8e308) either way.
 */
import type { FieldViolation } from "../errors.ts";

/** How long a ref takes feedback when `Settings.feedback_ref_ttl_ms` is 0: 7 days, in ms. */
export const DEFAULT_FEEDBACK_REF_TTL_MS = 7 * 24 * 3600_000;

/** Feedback metric names: lower-case letters, digits, `_`, `.` and `-`, 1 to 64 of them. */
export const FEEDBACK_METRIC_NAME = /^[a-z0-9_.-]{1,64}$/;

/** Range of a metric the experiment did not declare (inclusive), and of a declared bound left unset. */
export const DEFAULT_FEEDBACK_RANGE = { min: -1e9, max: 1e9 } as const;

/** Largest |min| and |max| of a declared range, so the largest |value| ever accepted. */
export const FEEDBACK_VALUE_LIMIT = 1e12;

/** Most feedback metrics one experiment may declare. */
const MAX_FEEDBACK_METRICS = 32;

/** The problems with a range `[min, max]` under `path` (`.min` / `.max`). */
function feedbackRangeProblems(min: number, max: number, path: string): FieldViolation[] {
  const out: FieldViolation[] = [];
  const bound = (value: number, field: string) => {
    if (!Number.isFinite(value) || Math.abs(value) > FEEDBACK_VALUE_LIMIT)
      out.push({ field: `${path}.${field}`, message: `must be a number from -1e12 to 1e12, got ${value}` });
  };
  bound(min, "min");
  bound(max, "max");
  if (out.length === 0 && min > max) out.push({ field: `${path}.max`, message: `must not be below min (${max} < ${min})` });
  return out;
}

/**
 * Every problem of a list of declared metrics under `path` (`feedback_metrics[1].name`): a name
 * that is not a metric name or is listed twice, a bad range, too many metrics.
 */
export function feedbackMetricProblems(
  metrics: readonly { readonly name: string; readonly min: number; readonly max: number }[],
  path: string,
): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (metrics.length > MAX_FEEDBACK_METRICS)
    out.push({ field: path, message: `must have at most ${MAX_FEEDBACK_METRICS} metrics, got ${metrics.length}` });
  const names = new Set<string>();
  metrics.forEach((m, i) => {
    const at = `${path}[${i}]`;
    if (!FEEDBACK_METRIC_NAME.test(m.name)) out.push({ field: `${at}.name`, message: "must be 1..64 characters of [a-z0-9_.-]" });
    else if (names.has(m.name)) out.push({ field: `${at}.name`, message: `duplicate metric ${JSON.stringify(m.name)}` });
    names.add(m.name);
    out.push(...feedbackRangeProblems(m.min, m.max, at));
  });
  return out;
}
