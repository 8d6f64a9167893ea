/**
 * Where a proxy's outcomes go: its Prometheus counters, the outcome log (batched, when one is
 * given) and the caller's own listener, in that order. Accepted feedback goes to the same
 * batches (and to the caller's feedback listener). Also serves `GET /metrics` on the traffic
 * port. Shut down after the traffic port (so the last requests' outcomes are in) and before the
 * snapshot applier.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Logger } from "../../log.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../stats/prometheus-text.ts";
export { isMetricsPath } from "../../stats/prometheus-text.ts";
import type { OutcomeLog } from "../../transport/types.ts";
import type { FeedbackListener } from "../feedback/accept-feedback.ts";
import type { OutcomeListener } from "../outcome.ts";
import type { RoutingTable } from "../snapshot/routing-table.ts";
import { createOutcomeBatcher, type OutcomeBatcher, type OutcomeBatcherOptions } from "./outcome-batcher.ts";
import { preciseNowMs } from "./outcome-record.ts";
import { ProxyMetrics, type FeedbackGauges, type NodeGauge } from "./proxy-metrics.ts";

/** Options of {@link createProxyOutcomes}. */
export interface ProxyOutcomesOptions {
  proxyId: string;
  logger: Logger;
  /** The outcome log to publish to. Default: none (outcomes only feed `/metrics` and `onOutcome`). */
  log?: OutcomeLog;
  /** Also receives every outcome. Default: none. */
  onOutcome?: OutcomeListener;
  /** Also receives every accepted piece of feedback. Default: none. */
  onFeedback?: FeedbackListener;
  /** The table new requests start on (for the snapshot version gauge). */
  current: () => RoutingTable | undefined;
  /** Requests being served now (for the in-flight gauge). */
  inFlight: () => number;
  /** The feedback counters and replay window, for `/metrics`. Default: none. */
  feedback?: () => FeedbackGauges;
  /** Batching limits (see OutcomeBatcherOptions). Default: the batcher's defaults. */
  batching?: Partial<Omit<OutcomeBatcherOptions, "log" | "proxyId" | "logger">>;
}

/** The proxy's outcome sinks. */
export interface ProxyOutcomes {
  /** Give this to the request handlers. */
  readonly listener: OutcomeListener;
  /** Give this to the feedback handlers. */
  readonly feedbackListener: FeedbackListener;
  /** The batcher, when a log was given. */
  readonly batcher: OutcomeBatcher | undefined;
  /** The Prometheus text of this proxy. */
  metricsText(): string;
  /** Answers `GET /metrics`. */
  serveMetrics(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void;
  /** Appends what is left to the log. */
  close(): Promise<void>;
}

/** Health gauges of the nodes of `table`, one per base URL. */
function nodeGauges(table: RoutingTable | undefined): NodeGauge[] {
  const out: NodeGauge[] = [];
  if (table === undefined) return out;
  const seen = new Set<unknown>();
  for (const n of table.nodes) {
    const u = n.upstream;
    if (seen.has(u)) continue;
    seen.add(u);
    const queued = u.queues.reduce((sum, q) => sum + q.length, 0);
    const resident = u.health.resident === null ? null : [...u.health.resident].sort();
    out.push({
      node: n.id,
      healthy: u.health.available,
      ejections: u.health.ejectionsTotal,
      inFlight: u.inFlight,
      queued,
      resident,
    });
  }
  return out;
}

/** Creates the sinks. */
export function createProxyOutcomes(options: ProxyOutcomesOptions): ProxyOutcomes {
  const metrics = new ProxyMetrics();
  const batcher =
    options.log === undefined
      ? undefined
      : createOutcomeBatcher({ ...options.batching, log: options.log, proxyId: options.proxyId, logger: options.logger });
  const user = options.onOutcome;
  const listener: OutcomeListener = (o) => {
    metrics.record(o);
    batcher?.push(o, preciseNowMs());
    if (user !== undefined) user(o);
  };
  const userFeedback = options.onFeedback;
  const feedbackListener: FeedbackListener = (f) => {
    batcher?.pushFeedback(f);
    if (userFeedback !== undefined) userFeedback(f);
  };
  const metricsText = () => {
    const table = options.current();
    return metrics.text({
      inFlight: options.inFlight(),
      snapshotVersion: table?.version ?? 0,
      batcher: batcher?.stats(),
      nodes: nodeGauges(table),
      feedback: options.feedback?.(),
    });
  };
  return {
    listener,
    feedbackListener,
    batcher,
    metricsText,
    serveMetrics(req, res) {
      const r = res as ServerResponse;
      if (req.method !== "GET" && req.method !== "HEAD") {
        r.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
        r.end("method not allowed\n");
        return;
      }
      const body = metricsText();
      r.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
      r.end(req.method === "HEAD" ? undefined : body);
    },
    async close() {
      await batcher?.close();
    },
  };
}
