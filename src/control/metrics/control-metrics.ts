/**
 * The control plane's metrics stage, wired in data-flow order: outcome log (replay of what this
 * consumer acked within the horizon, then the durable consumer — see outcome-consumer.ts) →
 * aggregator (per-second buckets) → MetricsService windows and the Prometheus text of the admin
 * port. Without an outcome log the service answers empty windows. A restarted control plane
 * rebuilds its windows from the log, so they cover the whole horizon again, counting each
 * request once; its all-time counters start with the rebuilt hour. Feedback entries of the log,
 * each (ref, metric) once (feedback-dedupe.ts), feed `turnout_feedback_total{experiment,metric}`
 * and the `onFeedback` hook (feedback-counter.ts).
 */
import { hostname } from "node:os";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MetricsService } from "../../../gen/turnout/v1/metrics_pb.js";
import type { Logger } from "../../log.ts";
import { PrometheusWriter, type Labels } from "../../stats/prometheus-text.ts";
import type { OutcomeLog } from "../../transport/types.ts";
import { createMetricsService } from "./metrics-service.ts";
import { createOutcomeAggregator, type OutcomeAggregator, type OutcomeAggregatorOptions } from "./outcome-aggregator.ts";
import { createFeedbackCounter, type FeedbackCounter, type FeedbackHook } from "./feedback-counter.ts";
import { createFeedbackDedupe } from "./feedback-dedupe.ts";
import { startOutcomeConsumer, type ExperimentOutcomeSink, type OutcomeConsumer } from "./outcome-consumer.ts";

/** Options of {@link createControlMetrics}. */
export interface ControlMetricsOptions {
  /** The outcome log to consume. Default: none (windows stay empty). */
  outcomes?: OutcomeLog;
  /**
   * Durable consumer name. Each control plane needs its own (each then sees every outcome); a
   * restarted control plane must reuse its name to resume where it acked. Default
   * `control-<host name>`.
   */
  consumerName?: string;
  logger: Logger;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Aggregator limits (horizon, dedupe window, series cap). */
  aggregator?: OutcomeAggregatorOptions;
  /** Requests in flight now for a series (the control plane sums the live proxies' reports). Default: 0. */
  inFlight?: (route: string, variant: string) => number;
  /** The published snapshot version, for the Prometheus gauge. Default: none (not exported). */
  snapshotVersion?: () => number;
  /** Store errors by operation and code, for the Prometheus counter. Default: none (not exported). */
  storeErrors?: () => { operation: string; code: string; count: number }[];
  /** Receives every accepted piece of feedback read from the outcome log, each ref and metric once (replayed ones after a restart too). Default: none. */
  onFeedback?: FeedbackHook;
  /** Outcomes counted in experiments also go here (the report tally). Default: none. */
  experiments?: ExperimentOutcomeSink;
}

/** The running metrics stage. */
export interface ControlMetrics {
  readonly aggregator: OutcomeAggregator;
  /** Feedback read from the outcome log, by experiment and metric. */
  readonly feedback: FeedbackCounter;
  /** The MetricsService implementation. */
  readonly service: ServiceImpl<typeof MetricsService>;
  /** Resolves once the windows are rebuilt from the outcome log (at once without a log). */
  rebuilt(): Promise<void>;
  /** The Prometheus text of the control plane (outcomes, per-series counters, snapshot, store). */
  prometheusText(): string;
  /** Ends WatchMetrics streams and stops consuming (the entry being applied is acked first). */
  close(): Promise<void>;
}

/** Default durable consumer name of this machine's control plane. */
function defaultConsumerName(): string {
  return `control-${hostname().replace(/[^\w-]/g, "_")}`;
}

/** Starts the metrics stage (consuming at once when `outcomes` is given). */
export function createControlMetrics(options: ControlMetricsOptions): ControlMetrics {
  const now = options.now ?? Date.now;
  const aggregator = createOutcomeAggregator(options.aggregator);
  const feedback = createFeedbackCounter({ onFeedback: options.onFeedback });
  // each (ref, metric) once, however many proxies accepted it
  const dedupe = createFeedbackDedupe();
  const consumer: OutcomeConsumer | undefined =
    options.outcomes === undefined
      ? undefined
      : startOutcomeConsumer({
          log: options.outcomes,
          consumerName: options.consumerName ?? defaultConsumerName(),
          aggregator,
          logger: options.logger,
          now,
          replayMs: (options.aggregator?.horizonSeconds ?? 3600) * 1000,
          onFeedback: (f) => {
            if (dedupe.first(f)) feedback.apply(f);
          },
          experiments: options.experiments,
        });
  const closing = new AbortController();
  const service = createMetricsService({
    source: { window: (seconds, route) => aggregator.window(seconds, now(), route) },
    inFlight: options.inFlight,
    closed: closing.signal,
  });

  return {
    aggregator,
    feedback,
    service,
    rebuilt: () => consumer?.rebuilt() ?? Promise.resolve(),
    prometheusText() {
      const w = new PrometheusWriter();
      const totals = aggregator.totals();
      w.counter(
        "turnout_control_outcomes_consumed_total",
        "Outcome records applied to the metrics aggregator (each request once).",
        [[undefined, aggregator.outcomesTotal()]],
      );
      w.counter("turnout_control_outcome_duplicates_total", "Redelivered outcome records recognised and not counted again.", [
        [undefined, aggregator.duplicatesTotal()],
      ]);
      w.counter("turnout_control_outcome_entries_total", "Outcome log entries (batches) consumed and acked.", [
        [undefined, consumer?.entriesTotal() ?? 0],
      ]);
      w.counter(
        "turnout_control_outcome_replayed_entries_total",
        "Outcome log entries replayed at startup to rebuild the metrics window.",
        [[undefined, consumer?.replayedTotal() ?? 0]],
      );
      w.counter(
        "turnout_control_outcome_redelivered_entries_total",
        "Outcome log entries delivered again after being applied (skipped by seq).",
        [[undefined, consumer?.redeliveredTotal() ?? 0]],
      );
      w.counter("turnout_control_outcome_malformed_total", "Outcome log entries that were not an OutcomeBatch (skipped).", [
        [undefined, consumer?.malformedTotal() ?? 0],
      ]);
      w.counter("turnout_control_outcome_consume_errors_total", "Times consuming the outcome log failed and was retried.", [
        [undefined, consumer?.errorsTotal() ?? 0],
      ]);
      const requests: [Labels, number][] = [];
      const tokens: [Labels, number][] = [];
      for (const s of totals) {
        for (const [status, count] of s.byStatus) requests.push([{ route: s.route, variant: s.variant, status }, count]);
        tokens.push([{ route: s.route, variant: s.variant }, s.completionTokens]);
      }
      w.counter("turnout_control_requests_total", "Requests seen in outcomes, by route, variant and outcome class.", requests);
      w.counter(
        "turnout_feedback_total",
        "Feedback accepted by proxies and read from the outcome log, by experiment and metric.",
        feedback.samples(),
      );
      w.counter(
        "turnout_feedback_duplicates_total",
        "Feedback entries on a ref and metric counted before (accepted by two proxies in a race), not counted again.",
        [[undefined, dedupe.duplicatesTotal()]],
      );
      w.counter("turnout_control_completion_tokens_total", "Tokens generated, by route and variant, from outcomes.", tokens);
      if (options.snapshotVersion !== undefined) {
        w.gauge("turnout_control_snapshot_version", "Version of the snapshot this control plane published or found last.", [
          [undefined, options.snapshotVersion()],
        ]);
      }
      if (options.storeErrors !== undefined) {
        const errors = options.storeErrors().map((e): [Labels, number] => [{ operation: e.operation, code: e.code }, e.count]);
        w.counter(
          "turnout_control_store_errors_total",
          "Errors the state store answered, by operation and code (aborted = lost compare-and-swap).",
          errors,
        );
      }
      return w.text();
    },
    async close() {
      closing.abort();
      await consumer?.close();
    },
  };
}
