/**
 * One upstream Ollama node as the proxy sees it: an undici `Pool` to its origin, the path prefix
 * of its base URL, the number of requests this proxy has in flight on it, the number the other
 * proxies of the fleet have in flight on it (from their FleetLoad reports), how long a request has
 * been taking there per request queued (what node choice weighs the load by), its health (active
 * probes, passive ejection, resident models) and the slot queues waiting for it. Upstreams are
 * shared by the routing tables that use the same base URL and timeouts, so a snapshot that leaves
 * a node unchanged keeps its connections and its health; the pool closes (draining what is in
 * flight) and the probes stop once no table uses it any more.
 */
import { Pool } from "undici";
import { NodeHealth } from "./node-health.ts";

/** A queue of requests waiting for a slot on the node (a variant's SlotQueue, slot-queue.ts). */
export interface WaitingQueue {
  /** Requests waiting now. */
  readonly length: number;
  /** A slot freed on the node: start waiting requests while they get one. */
  wake(): void;
}

/** Timeouts an upstream's pool is built with. */
export interface UpstreamTimeouts {
  /** TCP connect timeout in ms. */
  connectTimeoutMs: number;
  /** Longest wait for the response headers (first byte) in ms; covers cold model loads. */
  firstByteTimeoutMs: number;
  /** Longest idle gap between two body chunks in ms. */
  idleTimeoutMs: number;
}

/** An upstream node's pool and live counters. */
export class NodeUpstream {
  /** Identity for reuse across snapshots: base URL plus timeouts. */
  readonly key: string;
  /** The pool to the node's origin. */
  readonly pool: Pool;
  /** Path prefix of the base URL without a trailing slash ("" for none). */
  readonly prefix: string;
  /** Base URL of the node, as in the snapshot (the node's identity in FleetLoad reports). */
  readonly baseUrl: string;
  /** Requests this proxy has in flight on the node. */
  inFlight = 0;
  /** Requests the other live proxies of the fleet have in flight on the node (see fleet-load.ts). */
  fleetInFlight = 0;
  /**
   * Observed seconds per request on this node: an exponentially weighted mean of each successful
   * request's time (dispatch to end) divided by the fleet-wide requests in flight on the node when
   * it was dispatched (itself included) — the time one more queued request adds there. 0 = no
   * observation yet (node choice then uses the proxy-wide `typical` value).
   */
  secondsPerRequest = 0;
  /** The same mean over every node of this proxy (shared by its upstreams), for nodes not observed yet. */
  readonly typical: TypicalSpeed;
  /** Routing tables that reference this upstream. */
  tables = 0;
  /**
   * `performance.now()` until which the node is avoided: it refused a connection or answered 503
   * (a node that fails fast must not attract traffic by looking idle). 0 = not cooling.
   */
  coolUntil = 0;
  /** Health as this proxy sees it. */
  readonly health: NodeHealth;
  /** Slot queues with requests waiting for a slot on this node (usually empty). */
  readonly queues: WaitingQueue[] = [];

  constructor(baseUrl: string, timeouts: UpstreamTimeouts, typical: TypicalSpeed = { secondsPerRequest: 0 }) {
    this.typical = typical;
    const url = new URL(baseUrl);
    this.key = upstreamKey(baseUrl, timeouts);
    this.baseUrl = baseUrl;
    this.prefix = url.pathname.replace(/\/+$/, "");
    this.pool = new Pool(url.origin, {
      connectTimeout: timeouts.connectTimeoutMs,
      headersTimeout: timeouts.firstByteTimeoutMs,
      bodyTimeout: timeouts.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
    this.health = new NodeHealth(baseUrl, this.pool, this.prefix);
  }

  /** A request on this node ended: one slot is free again; waiting requests may take it. */
  slotFreed(): void {
    this.inFlight--;
    const queues = this.queues;
    if (queues.length === 0) return;
    // Waking may unregister a queue: iterate over a copy (only when something waits).
    for (const q of queues.slice()) q.wake();
  }

  /**
   * Records one successful request that took `seconds` from dispatch to end and was dispatched
   * with `depth` requests in flight on the node fleet-wide (itself included).
   */
  observe(seconds: number, depth: number): void {
    // At least 1 µs: 0 means "not observed yet".
    const x = Math.max(1e-6, seconds / (depth > 1 ? depth : 1));
    this.secondsPerRequest =
      this.secondsPerRequest === 0 ? x : this.secondsPerRequest + SPEED_WEIGHT * (x - this.secondsPerRequest);
    const t = this.typical;
    t.secondsPerRequest = t.secondsPerRequest === 0 ? x : t.secondsPerRequest + SPEED_WEIGHT * (x - t.secondsPerRequest);
  }

  /** Drops one table's reference; the last one closes the pool after in-flight requests end. */
  release(): Promise<void> {
    this.tables--;
    if (this.tables > 0) return Promise.resolve();
    this.health.stop();
    return this.pool.close().catch(() => undefined);
  }
}

/** Weight of the newest observation in {@link NodeUpstream.secondsPerRequest}. */
const SPEED_WEIGHT = 0.2;

/** One proxy's seconds per queued request over all its nodes (see NodeUpstream.secondsPerRequest); 0 before the first observation. */
export interface TypicalSpeed {
  secondsPerRequest: number;
}

/** How long a node that refused or answered 503 is avoided, in ms. */
export const COOL_DOWN_MS = 1000;

/** The reuse key of an upstream. */
export function upstreamKey(baseUrl: string, t: UpstreamTimeouts): string {
  return `${baseUrl}|${t.connectTimeoutMs}|${t.firstByteTimeoutMs}|${t.idleTimeoutMs}`;
}
