/**
 * The experiment tally (pure, in memory): outcome records and feedback that carry an experiment
 * in, per experiment → arm → (phase, user) totals out, which experiment-report.ts turns into a
 * report. The unit is the user: the 32-bit FNV-1a hash of the assignment unit, which outcomes
 * (`Outcome.experiment_unit`) and feedback (`Feedback.unit_hash`, from the ref) both carry, so a
 * user's requests and feedback land on the same key `${phase}:${hash}`. (Records written before
 * outcomes carried the hash fall back to their 0..9999 bucket, a cluster of users that always
 * shares an arm and so is still a valid unit.)
 *
 * Memory grows with the users of an experiment: about 150 bytes per user per phase (nine numbers
 * and a map entry), plus two latency histograms per arm (a few KB each) and one small map per user
 * that gave feedback. `maxUnits` caps the units of one experiment and `maxExperiments` the
 * experiments held; records beyond either are not counted and are counted in `droppedTotal`, as
 * is feedback whose value is not a number within ±1e12 (FEEDBACK_VALUE_LIMIT: proxies accept
 * nothing beyond it), so that no sum and no mean of accepted values is ever Infinity or NaN.
 *
 * Counting is exact when each record is applied once; the outcome consumer guarantees that (log
 * seq dedupe, and the metrics aggregator's record-key dedupe decides for records in its horizon).
 */
import { FEEDBACK_VALUE_LIMIT } from "../../snapshot/feedback-rules.ts";
import { SparseHistogram } from "../../stats/log-linear-histogram.ts";

/** One outcome of a request counted in an experiment. */
export interface ExperimentRecord {
  experiment: string;
  phase: number;
  arm: number;
  /** The unit: its 32-bit hash (Outcome.experiment_unit), or for old records its 0..9999 bucket. */
  unitHash: number;
  /** Outcome class ("ok" is a success, everything else an error). */
  status: string;
  latencyMs: number;
  /** Negative when no token came. */
  ttftMs: number;
  completionTokens: number;
  /** 0 when the node reported none. */
  tokensPerSecond: number;
}

/** One feedback value (a thumbs-up as 1/0, a score, a conversion) for a unit of an arm. */
export interface FeedbackRecord {
  experiment: string;
  phase: number;
  arm: number;
  /** 32-bit hash of the unit (Feedback.unit_hash). */
  unitHash: number;
  /** Metric name. */
  metric: string;
  value: number;
}

/** Sums of one feedback metric for one unit. */
export interface FeedbackSums {
  count: number;
  sum: number;
}

/** Totals of one unit (user) in one arm of one phase. */
export interface UnitTotals {
  requests: number;
  errors: number;
  latencySum: number;
  /** Successful requests that got a first token, and the sum of their TTFTs. */
  ttftCount: number;
  ttftSum: number;
  completionTokens: number;
  /** Requests that reported a generation speed, and the sum of those speeds. */
  tpsCount: number;
  tpsSum: number;
}

/** One arm of one experiment, all phases. */
export interface ArmTally {
  /** Units (users) by `${phase}:${unitHash}`. */
  units: Map<string, UnitTotals>;
  /** Feedback sums by unit (`${phase}:${unitHash}`, the same key as `units`), then metric. */
  feedback: Map<string, Map<string, FeedbackSums>>;
  latency: SparseHistogram;
  ttft: SparseHistogram;
}

/** One experiment's tally. */
export interface ExperimentTallyEntry {
  /** Arms by index (sparse until seen). */
  arms: Map<number, ArmTally>;
  /** Records applied. */
  outcomes: number;
  /** Distinct units (users × phases) with outcomes or feedback, over all arms. */
  unitCount: number;
  /** Bumped on every change (WatchReport sends a report when it moved). */
  version: number;
}

/** Options of {@link createExperimentTally}. */
export interface ExperimentTallyOptions {
  /** Most experiments held. Default 1000. */
  maxExperiments?: number;
  /** Most units (users × phases) counted per experiment, about 150 bytes each. Default 2,000,000. */
  maxUnits?: number;
}

/** The tally. */
export interface ExperimentTally {
  /** Counts one outcome record. */
  apply(record: ExperimentRecord): void;
  /** Counts one feedback value. */
  recordFeedback(record: FeedbackRecord): void;
  /** The tally of `experiment`, or undefined when nothing was counted for it. */
  get(experiment: string): ExperimentTallyEntry | undefined;
  /** Records not counted because `maxExperiments` experiments, or `maxUnits` units of theirs, were held already, or because a feedback value was beyond ±1e12 or not a number. */
  droppedTotal(): number;
}

function emptyUnit(): UnitTotals {
  return { requests: 0, errors: 0, latencySum: 0, ttftCount: 0, ttftSum: 0, completionTokens: 0, tpsCount: 0, tpsSum: 0 };
}

/** Creates an empty tally. */
export function createExperimentTally(options: ExperimentTallyOptions = {}): ExperimentTally {
  const maxExperiments = options.maxExperiments ?? 1000;
  const maxUnits = options.maxUnits ?? 2_000_000;
  const experiments = new Map<string, ExperimentTallyEntry>();
  let dropped = 0;

  function armOf(r: { experiment: string; arm: number }): { entry: ExperimentTallyEntry; arm: ArmTally } | undefined {
    let entry = experiments.get(r.experiment);
    if (entry === undefined) {
      if (experiments.size >= maxExperiments) {
        dropped++;
        return undefined;
      }
      entry = { arms: new Map(), outcomes: 0, unitCount: 0, version: 0 };
      experiments.set(r.experiment, entry);
    }
    let arm = entry.arms.get(r.arm);
    if (arm === undefined) {
      arm = { units: new Map(), feedback: new Map(), latency: new SparseHistogram(), ttft: new SparseHistogram() };
      entry.arms.set(r.arm, arm);
    }
    return { entry, arm };
  }

  /** Whether the entry may take one more unit (counts the refusal). */
  function roomFor(entry: ExperimentTallyEntry): boolean {
    if (entry.unitCount < maxUnits) return true;
    dropped++;
    return false;
  }

  function unitOf(r: {
    experiment: string;
    phase: number;
    arm: number;
    unitHash: number;
  }): { entry: ExperimentTallyEntry; arm: ArmTally; unit: UnitTotals } | undefined {
    const found = armOf(r);
    if (found === undefined) return undefined;
    const { entry, arm } = found;
    const key = `${r.phase}:${r.unitHash}`;
    let unit = arm.units.get(key);
    if (unit === undefined) {
      if (!arm.feedback.has(key)) {
        if (!roomFor(entry)) return undefined;
        entry.unitCount++;
      }
      unit = emptyUnit();
      arm.units.set(key, unit);
    }
    entry.version++;
    return { entry, arm, unit };
  }

  return {
    apply(record) {
      if (record.experiment === "" || record.arm < 0) return;
      const found = unitOf(record);
      if (found === undefined) return;
      const { entry, arm, unit } = found;
      entry.outcomes++;
      unit.requests++;
      if (record.status !== "ok") unit.errors++;
      unit.latencySum += record.latencyMs;
      arm.latency.add(record.latencyMs);
      // a failed request's "first byte" is its error, not a token
      if (record.ttftMs >= 0 && record.status === "ok") {
        unit.ttftCount++;
        unit.ttftSum += record.ttftMs;
        arm.ttft.add(record.ttftMs);
      }
      unit.completionTokens += record.completionTokens;
      if (record.tokensPerSecond > 0) {
        unit.tpsCount++;
        unit.tpsSum += record.tokensPerSecond;
      }
    },

    recordFeedback(record) {
      if (record.experiment === "" || record.arm < 0 || record.metric === "") return;
      // proxies accept nothing beyond the limit; an entry from elsewhere must not make a sum infinite
      if (!(Math.abs(record.value) <= FEEDBACK_VALUE_LIMIT)) {
        dropped++;
        return;
      }
      const found = armOf(record);
      if (found === undefined) return;
      const key = `${record.phase}:${record.unitHash}`;
      let metrics = found.arm.feedback.get(key);
      if (metrics === undefined) {
        if (!found.arm.units.has(key)) {
          if (!roomFor(found.entry)) return;
          found.entry.unitCount++;
        }
        metrics = new Map();
        found.arm.feedback.set(key, metrics);
      }
      found.entry.version++;
      const sums = metrics.get(record.metric) ?? { count: 0, sum: 0 };
      sums.count++;
      sums.sum += record.value;
      metrics.set(record.metric, sums);
    },

    get: (experiment) => experiments.get(experiment),
    droppedTotal: () => dropped,
  };
}
