/**
 * What a snapshot says feedback may be about, compiled once per snapshot for the feedback
 * endpoints: how long a ref takes feedback (`Settings.feedback_ref_ttl_ms`, 0: 7 days) and, per
 * experiment id, its phases, its arms and the metrics it takes with their ranges — the running
 * experiments (`RoutingSnapshot.experiments`) and those kept for feedback only
 * (`feedback_experiments`: paused, and stopped or concluded within the TTL). A ref whose
 * experiment is not here, or whose phase or arm the experiment never had, is refused.
 */
import type { FeedbackMetricSnapshot, RoutingSnapshot } from "../../../gen/turnout/v1/routing_pb.js";
import { DEFAULT_FEEDBACK_RANGE, DEFAULT_FEEDBACK_REF_TTL_MS } from "../../snapshot/feedback-rules.ts";

/** An inclusive range of feedback values. */
export interface FeedbackRange {
  readonly min: number;
  readonly max: number;
}

/** One experiment feedback may be about. */
export interface FeedbackTarget {
  /** Phases it had (refs name 0..phases-1). */
  readonly phases: number;
  /** Arms it has (refs name 0..arms-1). */
  readonly arms: number;
  /** The metrics it declared, by name; null when it declared none (any name, the default range). */
  readonly metrics: ReadonlyMap<string, FeedbackRange> | null;
}

/** The feedback view of one snapshot. */
export interface FeedbackTargets {
  /** Version of the snapshot. */
  readonly version: number;
  /** How long after it was issued a ref takes feedback, in ms. */
  readonly ttlMs: number;
  readonly experiments: ReadonlyMap<string, FeedbackTarget>;
}

function metricsOf(declared: readonly FeedbackMetricSnapshot[]): ReadonlyMap<string, FeedbackRange> | null {
  if (declared.length === 0) return null;
  return new Map(declared.map((m) => [m.name, { min: m.min, max: m.max }]));
}

/** The range `metric` takes in `target`; undefined when the experiment declared metrics and not this one. */
export function feedbackRange(target: FeedbackTarget, metric: string): FeedbackRange | undefined {
  return target.metrics === null ? DEFAULT_FEEDBACK_RANGE : target.metrics.get(metric);
}

/** Compiles the feedback view of a (checked) snapshot. */
export function compileFeedbackTargets(snapshot: RoutingSnapshot): FeedbackTargets {
  const experiments = new Map<string, FeedbackTarget>();
  for (const e of snapshot.experiments)
    experiments.set(e.id, { phases: e.phase + 1, arms: e.arms.length, metrics: metricsOf(e.feedbackMetrics) });
  for (const e of snapshot.feedbackExperiments) {
    if (experiments.has(e.id)) continue; // checkSnapshot refuses it; running wins
    experiments.set(e.id, { phases: e.phases, arms: e.arms, metrics: metricsOf(e.feedbackMetrics) });
  }
  const ttlMs = snapshot.settings?.feedbackRefTtlMs || DEFAULT_FEEDBACK_REF_TTL_MS;
  return { version: Number(snapshot.version), ttlMs, experiments };
}
