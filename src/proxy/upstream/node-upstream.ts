/**
 * One upstream Ollama node as the proxy sees it: an undici `Pool` to its origin, the path prefix
 * of its base URL, the number of requests this proxy has in flight on it, its health (active
 * probes, passive ejection, resident models) and the slot queues waiting for it. Upstreams are
 * shared by the routing tables that use the same base URL and timeouts, so a snapshot that leaves
 * a node unchanged keeps its connections and its health; the pool closes (draining what is in
 * flight) and the probes stop once no table uses it any more.
 */
import { Pool } from "undici";
import { NodeHealth } from "./node-health.ts";
import type { SlotQueue } from "./slot-queue.ts";

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
  /** Requests this proxy has in flight on the node. */
  inFlight = 0;
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
  readonly queues: SlotQueue[] = [];

  constructor(baseUrl: string, timeouts: UpstreamTimeouts) {
    const url = new URL(baseUrl);
    this.key = upstreamKey(baseUrl, timeouts);
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

  /** Drops one table's reference; the last one closes the pool after in-flight requests end. */
  release(): Promise<void> {
    this.tables--;
    if (this.tables > 0) return Promise.resolve();
    this.health.stop();
    return this.pool.close().catch(() => undefined);
  }
}

/** How long a node that refused or answered 503 is avoided, in ms. */
export const COOL_DOWN_MS = 1000;

/** The reuse key of an upstream. */
export function upstreamKey(baseUrl: string, t: UpstreamTimeouts): string {
  return `${baseUrl}|${t.connectTimeoutMs}|${t.firstByteTimeoutMs}|${t.idleTimeoutMs}`;
}
