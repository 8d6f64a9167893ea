/**
 * Compiles stored experiments into the snapshot's ExperimentSnapshots: RUNNING experiments only,
 * sorted by id, each with its current phase's seed, its arms' bucket ranges, its targeting rule,
 * its layer buckets and its declared feedback metrics. Experiments that ran and assign no users
 * any more (PAUSED, STOPPED, CONCLUDED) become FeedbackExperimentSnapshots: what a proxy needs
 * to take feedback on the refs they issued (phases, arms, metrics, when they ended). The ranges are the contiguous split of the first phase under the current
 * seed, then each later phase's weights applied with `allocateBuckets`, which moves only surplus
 * buckets: a split change keeps every user whose bucket stays in its arm; a new seed starts over.
 * Pure, so the same stored state always compiles to the same snapshot.
 */
import { create } from "@bufbuild/protobuf";
import { ExperimentStatus, type Experiment } from "../../../gen/turnout/v1/experiment_pb.js";
import {
  BucketRangeSchema,
  ExperimentArmSnapshotSchema,
  ExperimentSnapshotSchema,
  FeedbackExperimentSnapshotSchema,
  FeedbackMetricSnapshotSchema,
  type ExperimentSnapshot,
  type FeedbackExperimentSnapshot,
  type FeedbackMetricSnapshot,
} from "../../../gen/turnout/v1/routing_pb.js";
import { DEFAULT_FEEDBACK_RANGE } from "../../snapshot/feedback-rules.ts";
import { allocateBuckets, type ArmAllocation } from "../../assign/allocate.ts";

/** Seed of the layer hash for layer `name`. */
function layerSeed(name: string): string {
  return `layer:${name}`;
}

/** The arms' bucket ownership in the experiment's last phase (see the file comment). */
function currentAllocation(e: Experiment): ArmAllocation[] {
  const last = e.phases.length - 1;
  const weightsOf = (p: number) => e.arms.map((a, i) => ({ variant: a.name, weight: e.phases[p]?.weights[i] ?? a.weight }));
  if (last < 0) return allocateBuckets([], weightsOf(0));
  let first = last;
  while (first > 0 && e.phases[first - 1].seed === e.phases[last].seed) first--;
  let arms: ArmAllocation[] = [];
  for (let p = first; p <= last; p++) arms = allocateBuckets(arms, weightsOf(p));
  return arms;
}

/** The declared feedback metrics of `e`, bounds resolved (stored ones have both set). */
function feedbackMetrics(e: Experiment): FeedbackMetricSnapshot[] {
  return e.feedbackMetrics.map((m) =>
    create(FeedbackMetricSnapshotSchema, {
      name: m.name,
      min: m.min ?? DEFAULT_FEEDBACK_RANGE.min,
      max: m.max ?? DEFAULT_FEEDBACK_RANGE.max,
    }),
  );
}

/** The snapshot form of one RUNNING experiment (its last phase). */
function experimentSnapshot(e: Experiment): ExperimentSnapshot {
  const phase = e.phases.length - 1;
  const current = e.phases[phase];
  const allocated = currentAllocation(e);
  return create(ExperimentSnapshotSchema, {
    id: e.id,
    route: e.route,
    phase,
    seed: current?.seed ?? e.id,
    arms: e.arms.map((a, i) =>
      create(ExperimentArmSnapshotSchema, {
        name: a.name,
        variant: a.variant,
        ranges: allocated[i].ranges.map((r) => create(BucketRangeSchema, r)),
      }),
    ),
    targeting: e.targeting,
    layer: e.layer,
    layerSeed: layerSeed(e.layer),
    layerRanges: e.layerRanges.map((r) => create(BucketRangeSchema, { start: r.start, end: r.end })),
    feedbackMetrics: feedbackMetrics(e),
  });
}

const byId = (a: Experiment, b: Experiment) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The running experiments of `experiments` in snapshot form, sorted by id. */
export function experimentSnapshots(experiments: readonly Experiment[]): ExperimentSnapshot[] {
  return experiments
    .filter((e) => e.status === ExperimentStatus.RUNNING)
    .sort(byId)
    .map(experimentSnapshot);
}

const { PAUSED, STOPPED, CONCLUDED } = ExperimentStatus;

/**
 * The experiments of `experiments` that ran and assign no users now (PAUSED, STOPPED, CONCLUDED)
 * in their feedback form, sorted by id; `ended_at` is the end of the last phase of a stopped or
 * concluded one (compile leaves out those that ended longer than the ref TTL ago).
 */
export function feedbackExperimentSnapshots(experiments: readonly Experiment[]): FeedbackExperimentSnapshot[] {
  return experiments
    .filter((e) => e.phases.length > 0 && (e.status === PAUSED || e.status === STOPPED || e.status === CONCLUDED))
    .sort(byId)
    .map((e) =>
      create(FeedbackExperimentSnapshotSchema, {
        id: e.id,
        phases: e.phases.length,
        arms: e.arms.length,
        feedbackMetrics: feedbackMetrics(e),
        endedAt: e.status === PAUSED ? undefined : e.phases[e.phases.length - 1].endedAt,
      }),
    );
}
