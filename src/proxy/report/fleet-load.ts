/**
 * Fleet-wide in-flight counts per node. Each proxy publishes its own requests in flight per
 * upstream node (FleetLoad, JSON, on `SUBJECTS.fleetLoad(id)`) and listens to every other
 * proxy's, keeping per node base URL the sum of the other live proxies' counts in
 * `NodeUpstream.fleetInFlight`, which node choice adds to the proxy's own count.
 *
 * Publishing is off the hot path: a timer every `intervalMs` compares each node's count with the
 * last one sent and publishes when one changed (so changes are coalesced to one message per
 * interval), and again every `refreshMs` while any count is non-zero (an idle proxy is silent; a
 * receiver forgetting it loses nothing). A report not refreshed within 3 of its sender's refresh
 * intervals is dropped (a proxy that crashed or lost NATS); a proxy that stops sends an empty
 * report, which clears its counts at once.
 */
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { FleetLoadSchema } from "../../../gen/turnout/v1/events_pb.js";
import type { Logger } from "../../log.ts";
import { SUBJECTS, type EventBus } from "../../transport/types.ts";
import type { CompiledNode } from "../snapshot/compiled-route.ts";
import type { NodeUpstream } from "../upstream/node-upstream.ts";

/** Options of {@link createFleetLoad}. */
export interface FleetLoadOptions {
  /** Bus the reports go over. */
  bus: EventBus;
  /** This proxy's id (the last token of its subject). */
  id: string;
  /** The nodes new requests are picked from now (the current table's), undefined before any. */
  nodes: () => readonly CompiledNode[] | undefined;
  logger: Logger;
  /** How often counts are compared and, when changed, published, in ms. Default 50. */
  intervalMs?: number;
  /** Longest time between two reports while any count is non-zero, in ms. Default 1000. */
  refreshMs?: number;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
}

/** Running fleet-load sharing. */
export interface FleetLoad {
  /** Other proxies whose reports are live now. */
  peers(): number;
  /** Sum of the other live proxies' in-flight counts on the node with base URL `url`. */
  othersInFlight(url: string): number;
  /** Sends an empty report (others drop this proxy's counts), then stops publishing and listening. */
  close(): void;
}

/** A peer's last report. */
interface Peer {
  counts: Map<string, number>;
  expiresAt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Starts publishing this proxy's counts and summing the others'. */
export function createFleetLoad(options: FleetLoadOptions): FleetLoad {
  const { bus, id } = options;
  const log = options.logger.child({ component: "fleet-load" });
  const intervalMs = options.intervalMs ?? 50;
  const refreshMs = options.refreshMs ?? 1000;
  const now = options.now ?? (() => performance.now());
  const ownSubject = SUBJECTS.fleetLoad(id);
  const peers = new Map<string, Peer>();
  /** Per base URL, the sum of the live peers' counts. */
  const others = new Map<string, number>();
  /** What was last published, per base URL (non-zero counts only). */
  let sent = new Map<string, number>();
  let lastSentAt = -Infinity;
  let applied: readonly CompiledNode[] | undefined;
  const controller = new AbortController();

  /** Writes the sums into the current nodes' upstreams. */
  const assign = (nodes: readonly CompiledNode[] | undefined) => {
    if (nodes === undefined) return;
    for (const n of nodes) n.upstream.fleetInFlight = others.get(n.upstream.baseUrl) ?? 0;
  };

  const add = (counts: Map<string, number>, sign: 1 | -1) => {
    for (const [url, count] of counts) {
      const sum = (others.get(url) ?? 0) + sign * count;
      if (sum > 0) others.set(url, sum);
      else others.delete(url);
    }
  };

  const forget = (peerId: string) => {
    const peer = peers.get(peerId);
    if (peer === undefined) return;
    add(peer.counts, -1);
    peers.delete(peerId);
  };

  const onReport = (subject: string, data: Uint8Array) => {
    if (subject === ownSubject) return;
    let report;
    try {
      report = fromJsonString(FleetLoadSchema, decoder.decode(data), { ignoreUnknownFields: true });
    } catch (err) {
      log.debug({ subject, err: (err as Error).message }, "bad fleet load report ignored");
      return;
    }
    const peerId = subject.slice(SUBJECTS.fleetLoad("").length);
    forget(peerId);
    if (report.nodes.length > 0) {
      const counts = new Map<string, number>();
      for (const n of report.nodes) if (n.inFlight > 0) counts.set(n.url, (counts.get(n.url) ?? 0) + n.inFlight);
      const ttl = 3 * (report.refreshIntervalMs || refreshMs);
      peers.set(peerId, { counts, expiresAt: now() + ttl });
      add(counts, 1);
    }
    assign(options.nodes());
  };

  /** This proxy's counts per base URL (upstreams shared by several nodes counted once). */
  const ownCounts = (nodes: readonly CompiledNode[] | undefined): Map<string, number> => {
    const counts = new Map<string, number>();
    if (nodes === undefined) return counts;
    const seen = new Set<NodeUpstream>();
    for (const n of nodes) {
      const u = n.upstream;
      if (u.inFlight <= 0 || seen.has(u)) continue;
      seen.add(u);
      counts.set(u.baseUrl, (counts.get(u.baseUrl) ?? 0) + u.inFlight);
    }
    return counts;
  };

  const publish = (counts: Map<string, number>) => {
    const nodes = [...counts].map(([url, inFlight]) => ({ url, inFlight }));
    try {
      bus.publish(
        ownSubject,
        encoder.encode(
          toJsonString(FleetLoadSchema, create(FleetLoadSchema, { proxy: id, nodes, refreshIntervalMs: refreshMs })),
        ),
      );
    } catch (err) {
      log.warn({ err }, "fleet load not published");
    }
    sent = counts;
    lastSentAt = now();
  };

  const sameCounts = (a: Map<string, number>, b: Map<string, number>) => {
    if (a.size !== b.size) return false;
    for (const [url, count] of a) if (b.get(url) !== count) return false;
    return true;
  };

  /** Whether any of `nodes` has a request of this proxy in flight (no allocation). */
  const anyInFlight = (nodes: readonly CompiledNode[] | undefined): boolean => {
    if (nodes !== undefined) for (const n of nodes) if (n.upstream.inFlight > 0) return true;
    return false;
  };

  const tick = () => {
    // Idle (the common case between bursts): nothing sent, no peer, same table, nothing in flight.
    if (sent.size === 0 && peers.size === 0 && options.nodes() === applied && !anyInFlight(applied)) return;
    const t = now();
    let expired = false;
    for (const [peerId, peer] of peers) {
      if (peer.expiresAt <= t) {
        forget(peerId);
        expired = true;
      }
    }
    const nodes = options.nodes();
    // A new table brings new upstreams: give them the sums too.
    if (expired || nodes !== applied) assign(nodes);
    applied = nodes;
    const counts = ownCounts(nodes);
    if (!sameCounts(counts, sent) || (counts.size > 0 && t - lastSentAt >= refreshMs)) publish(counts);
  };

  const timer = setInterval(tick, intervalMs);
  timer.unref();

  void (async () => {
    try {
      for await (const m of bus.subscribe(SUBJECTS.fleetLoadAll, controller.signal)) onReport(m.subject, m.data);
    } catch (err) {
      if (!controller.signal.aborted) log.warn({ err }, "fleet load subscription ended");
    }
  })();

  return {
    peers() {
      const t = now();
      let live = 0;
      for (const peer of peers.values()) if (peer.expiresAt > t) live++;
      return live;
    },
    othersInFlight: (url) => others.get(url) ?? 0,
    close() {
      clearInterval(timer);
      controller.abort();
      if (sent.size > 0) publish(new Map());
    },
  };
}
