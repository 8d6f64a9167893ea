/**
 * The compiled, immutable form of a RoutingSnapshot that the hot path reads: routes by name with
 * their variants resolved to node objects, a bucket → arm table per route, the byte patterns
 * used to rewrite model names in answers, the API keys by id and what feedback may be about.
 * Requests pin the table they started on (`acquire`/`release`); a superseded table (`retire`)
 * gives its upstream pools back once its last request ends.
 */
import type { RoutingSnapshot } from "../../../gen/turnout/v1/routing_pb.js";
import { bucketTable } from "../../assign/allocate.ts";
import { ollamaKeepAlive } from "../../duration.ts";
import type { NodeHealthListener } from "../upstream/node-health.ts";
import { NodeUpstream, upstreamKey, type TypicalSpeed, type UpstreamTimeouts } from "../upstream/node-upstream.ts";
import { resilienceSettings, type ResilienceSettings } from "../upstream/resilience-settings.ts";
import { SlotQueue } from "../upstream/slot-queue.ts";
import { compileKeys, type KeyTable } from "../auth/compiled-key.ts";
import { ClientKeepAlive, clientKeepAlivePolicy } from "../routing/client-keep-alive.ts";
import { compileFeedbackTargets, type FeedbackTargets } from "../feedback/feedback-targets.ts";
import { compileRouteExperiments } from "../routing/route-experiments.ts";
import type { CompiledNode, CompiledRoute, CompiledVariant } from "./compiled-route.ts";

/** Proxy-wide settings with defaults applied. */
export interface CompiledSettings extends UpstreamTimeouts {
  /** Lower-cased unit header name. */
  readonly unitHeader: string;
  /** Health checks, outlier ejection, slot queue, total timeout. */
  readonly resilience: ResilienceSettings;
  /** What becomes of a client's keep_alive when the variant sets none. */
  readonly clientKeepAlive: ClientKeepAlive;
}

/** Default settings (Settings fields left 0/empty). */
const DEFAULT_SETTINGS: CompiledSettings = {
  unitHeader: "x-turnout-user",
  connectTimeoutMs: 5_000,
  firstByteTimeoutMs: 300_000,
  idleTimeoutMs: 60_000,
  resilience: resilienceSettings(undefined),
  clientKeepAlive: ClientKeepAlive.Ignore,
};

/** One applied snapshot. */
export class RoutingTable {
  readonly version: number;
  /** The version as a header value. */
  readonly versionHeader: string;
  readonly snapshot: RoutingSnapshot;
  readonly routes: ReadonlyMap<string, CompiledRoute>;
  /** Every node, in snapshot order. */
  readonly nodes: readonly CompiledNode[];
  readonly settings: CompiledSettings;
  /** API keys (hashes only). */
  readonly keys: KeyTable;
  /** Whether any key has a requests, tokens or concurrency limit (their use is shared over the bus). */
  readonly hasCountedKeys: boolean;
  /** What feedback may be about: the ref TTL and the experiments that take feedback. */
  readonly feedback: FeedbackTargets;
  private refs = 1;
  private readonly onDispose: (table: RoutingTable) => void;

  constructor(
    snapshot: RoutingSnapshot,
    routes: Map<string, CompiledRoute>,
    nodes: CompiledNode[],
    settings: CompiledSettings,
    onDispose: (table: RoutingTable) => void,
  ) {
    this.snapshot = snapshot;
    this.version = Number(snapshot.version);
    this.versionHeader = String(this.version);
    this.routes = routes;
    this.nodes = nodes;
    this.settings = settings;
    this.keys = compileKeys(snapshot.keys);
    let counted = false;
    for (const k of this.keys.byId.values()) counted ||= k.counted;
    this.hasCountedKeys = counted;
    this.feedback = compileFeedbackTargets(snapshot);
    this.onDispose = onDispose;
  }

  /** Pins the table for one request. */
  acquire(): this {
    this.refs++;
    return this;
  }

  /** Unpins one request (or, via `retire`, the applier's own reference). */
  release(): void {
    if (--this.refs === 0) this.onDispose(this);
  }

  /** Called once when a newer table replaces this one. */
  retire(): void {
    this.release();
  }
}

/**
 * Compiles a consistent snapshot (run `checkSnapshot` first). Upstreams whose key exists in
 * `upstreams` are reused, new ones are added to it (sharing `typical`, the proxy's mean speed over
 * its nodes); each gets one table reference and this snapshot's health settings, and reports its
 * availability changes to `onHealth`.
 */
export function compileRoutingTable(
  snapshot: RoutingSnapshot,
  upstreams: Map<string, NodeUpstream>,
  onDispose: (table: RoutingTable) => void,
  typical: TypicalSpeed = { secondsPerRequest: 0 },
  onHealth?: NodeHealthListener,
): RoutingTable {
  const s = snapshot.settings;
  const settings: CompiledSettings = {
    unitHeader: (s?.unitHeader || DEFAULT_SETTINGS.unitHeader).toLowerCase(),
    connectTimeoutMs: s?.connectTimeoutMs || DEFAULT_SETTINGS.connectTimeoutMs,
    firstByteTimeoutMs: s?.firstByteTimeoutMs || DEFAULT_SETTINGS.firstByteTimeoutMs,
    idleTimeoutMs: s?.idleTimeoutMs || DEFAULT_SETTINGS.idleTimeoutMs,
    resilience: resilienceSettings(s),
    clientKeepAlive: clientKeepAlivePolicy(s?.clientKeepAlive ?? ""),
  };
  const nodes: CompiledNode[] = [];
  const byId = new Map<string, CompiledNode>();
  const modelsOf = new Map<string, readonly string[]>();
  for (const node of snapshot.nodes) {
    const key = upstreamKey(node.baseUrl, settings);
    let upstream = upstreams.get(key);
    if (!upstream) {
      upstream = new NodeUpstream(node.baseUrl, settings, typical);
      upstreams.set(key, upstream);
    }
    upstream.tables++;
    upstream.health.configure(settings.resilience, node.id, onHealth);
    const compiled: CompiledNode = { id: node.id, upstream, maxConcurrent: node.maxConcurrent };
    nodes.push(compiled);
    byId.set(node.id, compiled);
    modelsOf.set(node.id, node.models);
  }

  const routes = new Map<string, CompiledRoute>();
  for (const route of snapshot.routes) {
    const variants = new Map<string, CompiledVariant>();
    for (const v of route.variants) {
      const chosen =
        v.nodes.length > 0
          ? v.nodes.map((id) => byId.get(id)).filter((n): n is CompiledNode => n !== undefined)
          : nodes.filter((n) => {
              const models = modelsOf.get(n.id) ?? [];
              return models.length === 0 || models.includes(v.model);
            });
      variants.set(v.name, {
        name: v.name,
        model: v.model,
        nodes: chosen,
        options: v.options && Object.keys(v.options).length > 0 ? v.options : undefined,
        keepAlive: String(ollamaKeepAlive(v.keepAlive)),
        modelPattern: Buffer.from(`"model":${JSON.stringify(v.model)}`),
        queue: new SlotQueue(
          chosen.map((n) => n.upstream),
          settings.resilience.queue,
        ),
      });
    }
    const defaultVariant = variants.get(route.defaultVariant) ?? variants.values().next().value;
    if (!defaultVariant) continue; // checkSnapshot rejects routes without variants
    const arms = route.arms.map((a) => variants.get(a.variant) ?? defaultVariant);
    routes.set(route.name, {
      name: route.name,
      variants,
      defaultVariant,
      arms,
      buckets: arms.length > 0 ? bucketTable(route.arms) : null,
      seed: route.seed || route.name,
      modelReplacement: Buffer.from(`"model":${JSON.stringify(route.name)}`),
      experiments: null,
    });
  }
  for (const [name, rx] of compileRouteExperiments(snapshot, (r) => routes.get(r)?.variants))
    (routes.get(name) as CompiledRoute).experiments = rx;
  return new RoutingTable(snapshot, routes, nodes, settings, onDispose);
}

/** Gives a disposed table's upstream references back; pools no table uses close and leave `upstreams`. */
export function releaseUpstreams(table: RoutingTable, upstreams: Map<string, NodeUpstream>): Promise<void> {
  const closing: Promise<void>[] = [];
  for (const node of table.nodes) {
    const u = node.upstream;
    closing.push(u.release());
    if (u.tables === 0 && upstreams.get(u.key) === u) upstreams.delete(u.key);
  }
  return Promise.all(closing).then(() => undefined);
}
