/**
 * One upstream Ollama node as the proxy sees it: an undici `Pool` to its origin, the path prefix
 * of its base URL, the number of requests this proxy has in flight on it and the number the other
 * proxies of the fleet have in flight on it (from their FleetLoad reports). Upstreams are shared
 * by the routing tables that use the same base URL and timeouts, so a snapshot that leaves a node
 * unchanged keeps its connections; the pool closes (draining what is in flight) once no table
 * uses it any more.
 */
import { Pool } from "undici";

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
  /** Routing tables that reference this upstream. */
  tables = 0;
  /**
   * `performance.now()` until which the node is avoided: it refused a connection or answered 503
   * (a node that fails fast must not attract traffic by looking idle). 0 = not cooling.
   */
  coolUntil = 0;

  constructor(baseUrl: string, timeouts: UpstreamTimeouts) {
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
  }

  /** Drops one table's reference; the last one closes the pool after in-flight requests end. */
  release(): Promise<void> {
    this.tables--;
    if (this.tables > 0) return Promise.resolve();
    return this.pool.close().catch(() => undefined);
  }
}

/** How long a node that refused or answered 503 is avoided, in ms. */
export const COOL_DOWN_MS = 1000;

/** The reuse key of an upstream. */
export function upstreamKey(baseUrl: string, t: UpstreamTimeouts): string {
  return `${baseUrl}|${t.connectTimeoutMs}|${t.firstByteTimeoutMs}|${t.idleTimeoutMs}`;
}
