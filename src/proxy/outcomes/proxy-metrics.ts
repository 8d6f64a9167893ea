/**
 * The proxy's own Prometheus counters, fed from each request's outcome: requests by route,
 * variant, outcome class and HTTP code, latency and time-to-first-token histograms and generated
 * tokens by route and variant. Recording is a few map lookups and increments; the text is built
 * only when `/metrics` is scraped.
 */
import { FixedHistogram, PrometheusWriter, type Labels } from "../../stats/prometheus-text.ts";
import type { Outcome } from "../outcome.ts";

interface SeriesCounters {
  /** outcome class → HTTP code → count. */
  requests: Map<string, Map<number, number>>;
  latency: FixedHistogram;
  ttft: FixedHistogram;
  completionTokens: number;
}

/** One node's health as the proxy sees it, read at scrape time. */
export interface NodeGauge {
  node: string;
  /** In rotation. */
  healthy: boolean;
  /** Ejections since the node's pool was created. */
  ejections: number;
  /** Requests this proxy has in flight on it. */
  inFlight: number;
  /** Requests waiting in slot queues that include the node. */
  queued: number;
  /** Models resident on the node per its last probe; null when unknown (no probe answer). */
  resident: readonly string[] | null;
}

/** What the proxy knows besides outcomes, read at scrape time. */
export interface ProxyGauges {
  /** Requests being served now. */
  inFlight: number;
  /** Applied snapshot version. */
  snapshotVersion: number;
  /** Outcome batcher counters; undefined when outcomes are not published. */
  batcher?: { appendedBatches: number; droppedBatches: number; droppedRecords: number; queuedRecords: number; retries: number };
  /** The current snapshot's nodes. Default: none. */
  nodes?: NodeGauge[];
  /** Feedback endpoints and the replay window. Default: none. */
  feedback?: FeedbackGauges;
}

/** The feedback endpoints' counters and the replay window's size, read at scrape time. */
export interface FeedbackGauges {
  accepted: number;
  replayed: number;
  refused: number;
  /** Keys in the replay window now. */
  windowKeys: number;
  /** Keys that left the window because it was full. */
  evictedWhenFull: number;
  /** Keys of this proxy's given up before the bus delivered them. */
  givenUp: number;
}

/** Per-series counters of one proxy. */
export class ProxyMetrics {
  /** route → variant → counters. */
  private readonly series = new Map<string, Map<string, SeriesCounters>>();
  private outcomes = 0;

  /** Counts one outcome. */
  record(o: Outcome): void {
    this.outcomes++;
    let byVariant = this.series.get(o.route);
    if (byVariant === undefined) {
      byVariant = new Map();
      this.series.set(o.route, byVariant);
    }
    let s = byVariant.get(o.variant);
    if (s === undefined) {
      s = { requests: new Map(), latency: new FixedHistogram(), ttft: new FixedHistogram(), completionTokens: 0 };
      byVariant.set(o.variant, s);
    }
    let byCode = s.requests.get(o.status);
    if (byCode === undefined) {
      byCode = new Map();
      s.requests.set(o.status, byCode);
    }
    byCode.set(o.httpStatus, (byCode.get(o.httpStatus) ?? 0) + 1);
    s.latency.observe(o.latencyMs / 1000);
    if (o.ttftMs >= 0) s.ttft.observe(o.ttftMs / 1000);
    s.completionTokens += o.completionTokens;
  }

  /** Outcomes recorded. */
  total(): number {
    return this.outcomes;
  }

  /** The exposition text of every proxy family. */
  text(gauges: ProxyGauges): string {
    const requests: [Labels, number][] = [];
    const latency: [Labels, FixedHistogram][] = [];
    const ttft: [Labels, FixedHistogram][] = [];
    const tokens: [Labels, number][] = [];
    for (const [route, byVariant] of this.series) {
      for (const [variant, s] of byVariant) {
        const labels = { route, variant };
        for (const [status, byCode] of s.requests)
          for (const [code, n] of byCode) requests.push([{ route, variant, status, code: String(code) }, n]);
        latency.push([labels, s.latency]);
        if (s.ttft.count > 0) ttft.push([labels, s.ttft]);
        tokens.push([labels, s.completionTokens]);
      }
    }
    const w = new PrometheusWriter()
      .counter(
        "turnout_proxy_requests_total",
        "Proxied requests by route, variant, outcome class and HTTP status code sent.",
        requests,
      )
      .histogram("turnout_proxy_request_duration_seconds", "Time from a request's arrival to the end of its answer.", latency)
      .histogram(
        "turnout_proxy_time_to_first_token_seconds",
        "Time from a request's arrival to the first byte of the node's answer.",
        ttft,
      )
      .counter("turnout_proxy_completion_tokens_total", "Tokens generated, as the nodes reported them.", tokens)
      .gauge("turnout_proxy_in_flight_requests", "Requests being served now (scrapes of /metrics not counted).", [
        [undefined, gauges.inFlight],
      ])
      .gauge("turnout_proxy_snapshot_version", "Routing snapshot version this proxy serves (0 before any).", [
        [undefined, gauges.snapshotVersion],
      ]);
    const nodes = gauges.nodes ?? [];
    if (nodes.length > 0) {
      w.gauge(
        "turnout_proxy_node_healthy",
        "1 when the node is in rotation on this proxy, 0 when ejected or failing its health checks.",
        nodes.map((n) => [{ node: n.node }, n.healthy ? 1 : 0]),
      )
        .counter(
          "turnout_proxy_node_ejections_total",
          "Times this proxy ejected the node after consecutive failures.",
          nodes.map((n) => [{ node: n.node }, n.ejections]),
        )
        .gauge(
          "turnout_proxy_node_in_flight_requests",
          "Requests this proxy has in flight on the node.",
          nodes.map((n) => [{ node: n.node }, n.inFlight]),
        )
        .gauge(
          "turnout_proxy_node_queued_requests",
          "Requests waiting for a slot on the node (in slot queues of variants it serves).",
          nodes.map((n) => [{ node: n.node }, n.queued]),
        )
        .gauge(
          "turnout_proxy_node_residency_known",
          "1 when the node's last /api/ps probe answered, so its resident models are known.",
          nodes.map((n) => [{ node: n.node }, n.resident === null ? 0 : 1]),
        )
        .gauge(
          "turnout_proxy_node_model_resident",
          "1 for each model the node's last /api/ps probe listed as resident.",
          nodes.flatMap((n) => (n.resident ?? []).map((model): [Labels, number] => [{ node: n.node, model }, 1])),
        );
    }
    const b = gauges.batcher;
    if (b !== undefined) {
      w.counter("turnout_proxy_outcome_batches_appended_total", "Outcome batches appended to the outcome log.", [
        [undefined, b.appendedBatches],
      ])
        .counter(
          "turnout_proxy_outcome_batches_dropped_total",
          "Outcome batches dropped (queue full, rejected, or unsent at shutdown).",
          [[undefined, b.droppedBatches]],
        )
        .counter("turnout_proxy_outcomes_dropped_total", "Outcome records dropped.", [[undefined, b.droppedRecords]])
        .counter("turnout_proxy_outcome_append_retries_total", "Failed outcome appends that were retried.", [
          [undefined, b.retries],
        ])
        .gauge("turnout_proxy_outcomes_queued", "Outcome records waiting to be appended.", [[undefined, b.queuedRecords]]);
    }
    const f = gauges.feedback;
    if (f !== undefined) {
      w.counter("turnout_proxy_feedback_total", "Feedback sent to this proxy, by result: accepted, replayed (409) or refused.", [
        [{ result: "accepted" }, f.accepted],
        [{ result: "replayed" }, f.replayed],
        [{ result: "refused" }, f.refused],
      ])
        .gauge("turnout_proxy_feedback_replay_keys", "Accepted (ref, metric) keys in the replay window (the fleet's).", [
          [undefined, f.windowKeys],
        ])
        .counter(
          "turnout_proxy_feedback_replay_keys_evicted_total",
          "Keys that left the full replay window; refs older than the last one are refused as expired.",
          [[undefined, f.evictedWhenFull]],
        )
        .counter(
          "turnout_proxy_feedback_keys_given_up_total",
          "Accepted keys given up before the bus delivered them to the other proxies.",
          [[undefined, f.givenUp]],
        );
    }
    return w.text();
  }
}
