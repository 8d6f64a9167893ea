/**
 * Proxy test harness: simulated Ollama nodes on port 0, a file store in a temp directory, snapshots
 * built directly (no control plane) and published at SNAPSHOT_KEY, and a proxy watching them.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type KeySnapshotSchema,
  RoutingSnapshotSchema,
  type RoutingSnapshot,
  type SettingsSchema,
} from "../../gen/turnout/v1/routing_pb.js";
import { allocateBuckets } from "../../src/assign/allocate.ts";
import { createLogger } from "../../src/log.ts";
import type { Outcome } from "../../src/proxy/outcome.ts";
import { startProxy, type Proxy, type ProxyOptions } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator, type SimulatorOptions } from "../../src/sim/simulator.ts";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import { SNAPSHOT_KEY, type EventBus, type KvStore, type ProxyReport } from "../../src/transport/types.ts";

export interface NodeSpec {
  id: string;
  url: string;
  maxConcurrent?: number;
  models?: string[];
}

export interface VariantSpec {
  name: string;
  model: string;
  nodes?: string[];
  options?: JsonObject;
  keepAlive?: string;
}

export interface RouteSpec {
  name: string;
  variants: VariantSpec[];
  defaultVariant?: string;
  /** Weighted split (percent); arms get fresh contiguous bucket ranges. */
  split?: { variant: string; weight: number }[];
  seed?: string;
}

export interface SnapshotSpec {
  version: number;
  nodes: NodeSpec[];
  routes: RouteSpec[];
  settings?: MessageInitShape<typeof SettingsSchema>;
  /** API keys (hashes only), as `RoutingSnapshot.keys`. */
  keys?: MessageInitShape<typeof KeySnapshotSchema>[];
}

/** A consistent snapshot with its content hash. */
export function buildSnapshot(spec: SnapshotSpec): RoutingSnapshot {
  const snapshot = create(RoutingSnapshotSchema, {
    version: BigInt(spec.version),
    parentVersion: BigInt(Math.max(0, spec.version - 1)),
    createdAt: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 },
    nodes: spec.nodes.map((n) => ({ id: n.id, baseUrl: n.url, maxConcurrent: n.maxConcurrent ?? 0, models: n.models ?? [] })),
    routes: spec.routes.map((r) => ({
      name: r.name,
      defaultVariant: r.defaultVariant ?? r.variants[0].name,
      seed: r.seed ?? r.name,
      variants: r.variants.map((v) => ({
        name: v.name,
        model: v.model,
        nodes: v.nodes ?? [],
        options: v.options,
        keepAlive: v.keepAlive ?? "",
      })),
      arms: r.split ? allocateBuckets([], r.split).map((a) => ({ variant: a.variant, weight: a.weight, ranges: a.ranges })) : [],
    })),
    settings: spec.settings ?? {},
    keys: spec.keys ?? [],
  });
  snapshot.contentHash = snapshotContentHash(snapshot);
  return snapshot;
}

export interface ProxyFixture {
  sims: Simulator[];
  store: KvStore;
  proxy: Proxy;
  reports: ProxyReport[];
  outcomes: Outcome[];
  /** Publishes a snapshot and waits until the proxy applied it. */
  publish(spec: SnapshotSpec): Promise<void>;
  /** Writes raw bytes at SNAPSHOT_KEY and waits for the proxy's report about them. */
  publishRaw(bytes: Uint8Array): Promise<ProxyReport>;
  close(): Promise<void>;
}

/** Starts simulators, a store and a proxy; publishes `snapshot(simUrls)` when given. */
export async function startProxyFixture(options: {
  sims: SimulatorOptions[];
  snapshot?: (urls: string[]) => SnapshotSpec;
  /** Bus the proxy reports on (status, node health). Default: none. */
  bus?: EventBus;
  /** Client keys on the traffic port. Default: none required. */
  clientAuth?: ProxyOptions["clientAuth"];
  /** Window of the keys' per-minute limits, ms. Default the proxy's (one minute). */
  keyLimitWindowMs?: number;
}): Promise<ProxyFixture> {
  const sims = await Promise.all(options.sims.map((o) => startSimulator(o)));
  const dir = await mkdtemp(join(tmpdir(), "turnout-proxy-"));
  const store = createFileKvStore({ dir, fsync: false });
  const reports: ProxyReport[] = [];
  const outcomes: Outcome[] = [];
  let reportWaiter: ((r: ProxyReport) => void) | null = null;
  const proxy = await startProxy({
    store,
    port: 0,
    logger: createLogger({ level: "silent" }),
    id: "test",
    // listenDual's close does not see idle HTTP/1.1 keep-alive sockets yet (reported), so every
    // close would wait out the grace period; tests close only after their answers ended.
    closeGraceMs: 200,
    onReport: (r) => {
      reports.push(r);
      reportWaiter?.(r);
    },
    onOutcome: (o) => outcomes.push(o),
    bus: options.bus,
    heartbeatMs: 60_000,
    clientAuth: options.clientAuth,
    keyLimitWindowMs: options.keyLimitWindowMs,
  });
  const fixture: ProxyFixture = {
    sims,
    store,
    proxy,
    reports,
    outcomes,
    async publish(spec) {
      await store.put(SNAPSHOT_KEY, toBinary(RoutingSnapshotSchema, buildSnapshot(spec)));
      await proxy.waitForVersion(spec.version, AbortSignal.timeout(5000));
    },
    async publishRaw(bytes) {
      const next = new Promise<ProxyReport>((resolve) => (reportWaiter = resolve));
      await store.put(SNAPSHOT_KEY, bytes);
      const report = await next;
      reportWaiter = null;
      return report;
    },
    async close() {
      await proxy.close();
      await store.close();
      await Promise.all(sims.map((s) => s.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (options.snapshot) await fixture.publish(options.snapshot(sims.map((s) => s.url)));
  return fixture;
}

/** A URL where nothing listens (a port that was just free). */
export async function deadUrl(): Promise<string> {
  const net = await import("node:net");
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
