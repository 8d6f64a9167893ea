/**
 * The data-plane proxy, wired in data-flow order: snapshot watch → check → apply (one table
 * reference) → traffic port (HTTP/1.1 + h2c) → Connect ChatService or the HTTP dialects → client
 * key → route → assign → key limits → pick node → forward → outcome. Shut down in reverse: stop accepting and drain traffic,
 * then stop watching and close the pools.
 */
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import type { Logger } from "../log.ts";
import { type TlsFiles, listenDual } from "../server/dual-server.ts";
import { REFLECTION_PATH_PREFIX, registerReflection } from "../server/reflection/register-reflection.ts";
import type { EventBus, KvStore, OutcomeLog, ProxyReport } from "../transport/types.ts";
import { KeyLimiter } from "./auth/key-limiter.ts";
import { createKeyUsageSharing } from "./auth/key-usage-sharing.ts";
import { checkTrafficExposure, type ClientAuthOptions } from "./auth/traffic-exposure.ts";
import { createChatService } from "./dialects/connect-chat.ts";
import { createHttpHandler } from "./dialects/http-handler.ts";
import type { FeedbackListener } from "./feedback/accept-feedback.ts";
import { createFeedbackReplays, type FeedbackReplays } from "./feedback/feedback-replays.ts";
import type { OutcomeListener } from "./outcome.ts";
import { createProxyOutcomes, isMetricsPath } from "./outcomes/proxy-outcomes.ts";
import type { ProxyContext } from "./proxy-context.ts";
import { SeriesInFlight } from "./report/series-in-flight.ts";
import { createFleetLoad, type FleetLoad } from "./report/fleet-load.ts";
import { createNodeHealthReporter } from "./report/node-health-reporter.ts";
import { createStatusReporter, type StatusReporter } from "./report/status-reporter.ts";
import { createLastGoodFile } from "./snapshot/last-good-file.ts";
import { createSnapshotApplier } from "./snapshot/snapshot-applier.ts";
import type { NodeHealthListener } from "./upstream/node-health.ts";
import { loadRefKey } from "./routing/load-ref-key.ts";

/** Options of {@link startProxy}. */
export interface ProxyOptions {
  /** Store holding the published snapshot at SNAPSHOT_KEY. */
  store: KvStore;
  /** Traffic port; 0 picks a free one. */
  port: number;
  /**
   * Address to bind. Default "127.0.0.1". Any other than loopback needs
   * `clientAuth.requireClientKeys` or `clientAuth.allowAnonymousTraffic`, else `startProxy` throws
   * `failed_precondition` naming both.
   */
  host?: string;
  /** Client keys on the traffic port (see ClientAuthOptions). Default: not required, anonymous only on loopback. */
  clientAuth?: ClientAuthOptions;
  /**
   * The window the keys' per-minute limits count over, in ms. Default 60000. Shorter only in tests
   * and benchmarks (a limit of N per minute then allows N per window).
   */
  keyLimitWindowMs?: number;
  /** How often the keys' usage is shared on `bus` (and their leases granted), in ms. Default 50. */
  keyUsageIntervalMs?: number;
  /** Longest time between two key usage reports on `bus` while the snapshot has limited keys, in ms (others drop a proxy after 3). Default 1000. */
  keyUsageRefreshMs?: number;
  /** Root logger; the proxy logs through children. */
  logger: Logger;
  /** Proxy id in reports. Default "proxy-<pid>". */
  id?: string;
  /** Receives an ACK/NACK for each snapshot newer than the applied one. Default: none. */
  onReport?: (report: ProxyReport) => void;
  /** Receives one outcome per proxied request. Default: none. */
  onOutcome?: OutcomeListener;
  /** Receives every piece of feedback accepted on `POST /v1/feedback` or `ChatService.Feedback`. Default: none. */
  onFeedback?: FeedbackListener;
  /**
   * Most (ref, metric) keys of accepted feedback the proxy remembers to refuse replays, about 24
   * bytes each; when full, the oldest goes and refs issued before it are refused as expired.
   * Default 1,000,000.
   */
  feedbackReplayKeys?: number;
  /** How long `close` waits for open requests before cutting them, in ms. Default 5000. */
  closeGraceMs?: number;
  /**
   * Bus for the proxy's status: ProxyStatus on `SUBJECTS.proxyStatus(id)` for every snapshot seen
   * and every `heartbeatMs`, ACK/NACKs also on `SUBJECTS.proxyApplied`. Default: none (no reports).
   */
  bus?: EventBus;
  /** Interval between status heartbeats on `bus`, in ms. Default 1000. */
  heartbeatMs?: number;
  /**
   * How often the proxy's per-node in-flight counts are compared and, when changed, published on
   * `bus` as FleetLoad (other proxies add them to theirs when choosing a node), in ms. Default 50.
   */
  fleetLoadIntervalMs?: number;
  /** Longest time between two FleetLoad reports while any count is non-zero, in ms (others drop a report after 3). Default 1000. */
  fleetLoadRefreshMs?: number;
  /**
   * Directory for the last good snapshot (`last-good-snapshot.pb`): served at startup before the
   * store answers, rewritten after every apply. Default: none (nothing kept on disk).
   */
  dataDir?: string;
  /**
   * Secret (at least 16 bytes) signing the `x-turnout-ref` of answers in an experiment; feedback
   * verifies refs with it, so every proxy of a fleet needs the same one. Default: env
   * `TURNOUT_REF_SECRET`, else `<dataDir>/ref-secret` (created with 32 random bytes when absent),
   * else a random per-process secret (logged as a warning: its refs do not outlive the process).
   */
  refSecret?: string;
  /** Outcome log each request's outcome is published to, in batches. Default: none. */
  outcomes?: OutcomeLog;
  /**
   * Also receives every change of this proxy's view of a node (NodeHealthChanged is published on
   * `SUBJECTS.nodeHealth` when `bus` is given). Default: none.
   */
  onNodeHealth?: NodeHealthListener;
  /**
   * Serve the traffic port over TLS (HTTP/2 and HTTP/1.1 by ALPN) with these PEM files, reloaded
   * when they change. Default: none (cleartext HTTP/1.1 and h2c).
   */
  tls?: TlsFiles;
}

/** A running proxy. */
export interface Proxy {
  /** `http://host:port` of the traffic port (`https://` with TLS). */
  readonly url: string;
  readonly port: number;
  /** Applied snapshot version (0 before any). */
  version(): number;
  /** Resolves once a version ≥ `v` is applied. */
  waitForVersion(v: number, signal?: AbortSignal): Promise<void>;
  /** The fleet-wide in-flight counts this proxy sees (undefined without a bus). */
  readonly fleetLoad: FleetLoad | undefined;
  /** This proxy's per-key limits: its counters and the live peers it shares their use with. */
  readonly keyLimiter: KeyLimiter;
  /** The (ref, metric) keys of accepted feedback this proxy refuses replays of: its own and those the fleet shared. */
  readonly feedbackReplays: FeedbackReplays;
  /** Stops serving and releases everything. */
  close(): Promise<void>;
}

const CONNECT_PREFIX = "/turnout.v1.ChatService/";

/** Starts a proxy: applies snapshots from `store` and serves traffic on `port`. */
export async function startProxy(options: ProxyOptions): Promise<Proxy> {
  const logger = options.logger.child({ component: "proxy" });
  const id = options.id ?? `proxy-${process.pid}`;
  const host = options.host ?? "127.0.0.1";
  // Secure by default: nothing starts when the traffic port would be open to other machines.
  checkTrafficExposure(host, options.clientAuth ?? {}, logger);

  // Status: ACK/NACK reports and the in-flight counts (total, per series) in, ProxyStatus on the bus out.
  let inFlight = 0;
  const seriesInFlight = options.bus && new SeriesInFlight();
  const reporter: StatusReporter | undefined =
    options.bus &&
    createStatusReporter({
      bus: options.bus,
      id,
      logger,
      heartbeatMs: options.heartbeatMs,
      inFlight: () => inFlight,
      inFlightBySeries: () => seriesInFlight?.snapshot() ?? [],
    });
  const onReport = (r: ProxyReport) => {
    options.onReport?.(r);
    reporter?.report(r);
  };

  // Node health: availability changes of the upstreams in, a log line and NodeHealthChanged on the bus out.
  const onNodeHealth = createNodeHealthReporter({ proxyId: id, logger, bus: options.bus, onChange: options.onNodeHealth });

  // Snapshots: the last good one on disk, then store entries in; the current RoutingTable (and
  // ACK/NACK reports) out. Each table's upstreams probe their nodes and report to onNodeHealth.
  const lastGood = options.dataDir === undefined ? undefined : createLastGoodFile({ dir: options.dataDir, logger });
  const applier = createSnapshotApplier({ store: options.store, proxyId: id, logger, onReport, lastGood, onNodeHealth });

  // Fleet load: this proxy's in-flight counts per node out on the bus, the other proxies' in,
  // summed into each current node's upstream for node choice.
  const fleetLoad =
    options.bus &&
    createFleetLoad({
      bus: options.bus,
      id,
      logger,
      nodes: () => applier.current()?.nodes,
      intervalMs: options.fleetLoadIntervalMs,
      refreshMs: options.fleetLoadRefreshMs,
    });

  // Key limits: each request of a limited key in, admitted or refused out; this proxy's use out on
  // the bus and the other proxies' in, so that a limit holds fleet-wide.
  const limiter = new KeyLimiter({ windowMs: options.keyLimitWindowMs });
  const keyUsage =
    options.bus &&
    createKeyUsageSharing({
      bus: options.bus,
      id,
      limiter,
      logger,
      active: () => applier.current()?.hasCountedKeys === true,
      intervalMs: options.keyUsageIntervalMs,
      refreshMs: options.keyUsageRefreshMs,
    });

  // Feedback replays: the (ref, metric) key of each accepted piece of feedback in, out on the bus
  // to the other proxies, theirs in; a replay of any of them is refused.
  const feedbackReplays = createFeedbackReplays({ id, logger, bus: options.bus, capacity: options.feedbackReplayKeys });

  // Outcomes: one record per request in; Prometheus counters (GET /metrics), batches to the
  // outcome log and the caller's onOutcome out.
  const outcomes = createProxyOutcomes({
    proxyId: id,
    logger,
    log: options.outcomes,
    onOutcome: options.onOutcome,
    onFeedback: options.onFeedback,
    current: applier.current,
    inFlight: () => inFlight,
    feedback: () => ({
      ...feedbackReplays.results,
      windowKeys: feedbackReplays.window.size,
      evictedWhenFull: feedbackReplays.window.evictedWhenFull,
      givenUp: feedbackReplays.givenUpTotal(),
    }),
  });

  // Dialects: client requests in, exchanges on the current table out.
  const ctx: ProxyContext = {
    current: applier.current,
    onOutcome: outcomes.listener,
    onFeedback: outcomes.feedbackListener,
    feedbackReplays,
    logger,
    seriesInFlight,
    refKey: loadRefKey(options.refSecret, options.dataDir, logger),
    clientAuth: { required: options.clientAuth?.requireClientKeys === true, limiter },
  };
  const http = createHttpHandler(ctx);
  const connect = connectNodeAdapter({
    routes: (router) => {
      router.service(ChatService, createChatService(ctx));
      registerReflection(router);
    },
    fallback: http as unknown as NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>,
  });
  // One listener for every response ('close' is emitted once): no closure per request.
  const onResponseClose = () => {
    inFlight--;
  };
  const handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    const url = req.url;
    if (url !== undefined && isMetricsPath(url)) return outcomes.serveMetrics(req, res);
    inFlight++;
    res.on("close", onResponseClose);
    if (url !== undefined && (url.startsWith(CONNECT_PREFIX) || url.startsWith(REFLECTION_PATH_PREFIX)))
      return connect(req as never, res as never);
    http(req, res);
  };

  // Traffic port: HTTP/1.1 and h2c on one socket.
  let server;
  try {
    server = await listenDual({ port: options.port, host, handler, tls: options.tls, logger });
  } catch (err) {
    feedbackReplays.close();
    keyUsage?.close();
    fleetLoad?.close();
    await outcomes.close();
    await applier.close();
    throw err;
  }
  logger.info({ url: server.url, id }, "proxy listening");
  reporter?.start(server.url);

  return {
    url: server.url,
    port: server.port,
    version: applier.version,
    waitForVersion: applier.waitForVersion,
    fleetLoad,
    keyLimiter: limiter,
    feedbackReplays,
    async close() {
      reporter?.close();
      await server.close(options.closeGraceMs ?? 5000);
      feedbackReplays.close();
      keyUsage?.close();
      fleetLoad?.close();
      await outcomes.close();
      await applier.close();
    },
  };
}
