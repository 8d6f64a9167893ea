/**
 * The control plane's count of accepted feedback, by experiment and metric, from the outcome log's
 * `OutcomeBatch.feedback` entries: the Prometheus counter `turnout_feedback_total` and the caller's
 * `onFeedback` hook (the per-arm experiment report builds on it). Metric names are chosen by
 * clients, so the number of (experiment, metric) series is capped; feedback of a series beyond
 * the cap is counted under `{experiment="_other",metric="_other"}` (the hook still sees it whole).
 */
import type { Feedback } from "../../../gen/turnout/v1/events_pb.js";
import type { Labels } from "../../stats/prometheus-text.ts";

/** Receives each decoded piece of feedback once per control-plane run (replayed ones included); must not throw. */
export type FeedbackHook = (feedback: Feedback) => void;

/** Options of {@link createFeedbackCounter}. */
export interface FeedbackCounterOptions {
  /** Most (experiment, metric) series counted separately. Default 1000. */
  maxSeries?: number;
  /** Also receives every piece of feedback. Default: none. */
  onFeedback?: FeedbackHook;
}

/** Counts feedback. */
export interface FeedbackCounter {
  /** Counts `f` and hands it to the hook. */
  apply(f: Feedback): void;
  /** Feedback counted since this control plane started (rebuilt from the log's horizon on restart). */
  total(): number;
  /** Count for one experiment and metric (0 when none). */
  count(experiment: string, metric: string): number;
  /** Samples of `turnout_feedback_total`. */
  samples(): [Labels, number][];
}

const OTHER = "_other";

/** Creates an empty counter. */
export function createFeedbackCounter(options: FeedbackCounterOptions = {}): FeedbackCounter {
  const max = options.maxSeries ?? 1000;
  const hook = options.onFeedback;
  const series = new Map<string, Map<string, number>>();
  let size = 0;
  let total = 0;

  function bump(experiment: string, metric: string): boolean {
    const byMetric = series.get(experiment);
    const known = byMetric?.get(metric);
    if (known !== undefined) {
      byMetric!.set(metric, known + 1);
      return true;
    }
    if (size >= max) return false;
    if (byMetric === undefined) series.set(experiment, new Map([[metric, 1]]));
    else byMetric.set(metric, 1);
    size++;
    return true;
  }

  return {
    apply(f) {
      total++;
      if (!bump(f.experiment, f.metric)) {
        const other = series.get(OTHER) ?? new Map<string, number>();
        series.set(OTHER, other);
        other.set(OTHER, (other.get(OTHER) ?? 0) + 1);
      }
      if (hook !== undefined) hook(f);
    },
    total: () => total,
    count: (experiment, metric) => series.get(experiment)?.get(metric) ?? 0,
    samples() {
      const out: [Labels, number][] = [];
      for (const [experiment, byMetric] of series) for (const [metric, n] of byMetric) out.push([{ experiment, metric }, n]);
      return out;
    },
  };
}
