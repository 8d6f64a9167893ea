/**
 * A fleet for measuring per-key limits, all on 127.0.0.1: its own nats-server, one simulated
 * Ollama node, and N proxies (in this process, each with its own NATS connection, so their usage
 * reports really cross the server) serving a snapshot with client keys of one requests-per-minute
 * limit. `driveEvenly` sends chats of one key round-robin over the proxies and counts what they
 * admit. Used by `npm run bench:limits` and its test.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Agent, request } from "undici";
import { Role, RoutingSnapshotSchema } from "../gen/turnout/v1/routing_pb.js";
import { newApiToken } from "../src/auth/api-token.ts";
import { createLogger } from "../src/log.ts";
import { startProxy, type Proxy } from "../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../src/sim/simulator.ts";
import { snapshotContentHash } from "../src/snapshot/content-hash.ts";
import { createNatsTransport, type NatsTransport } from "../src/transport/nats/nats-transport.ts";
import { SNAPSHOT_KEY } from "../src/transport/types.ts";
import { startNatsServer, type NatsServer } from "../test/support/nats-server.ts";

/** The route the keys chat on. */
const ROUTE = "limited";

/** Options of {@link startLimitsFleet}. */
export interface LimitsFleetOptions {
  /** Number of proxies. Default 3. */
  proxies?: number;
  /** Requests per minute of every key. */
  limit: number;
  /** Keys made (each with the limit). Default 1. */
  keys?: number;
  /** The window the limit counts over, in ms (60000 for a real minute; shorter for a quick run). */
  windowMs: number;
  /** The proxies' heartbeat interval of usage reports, in ms (a silent proxy is dropped after 3). Default the proxy's (1000). */
  refreshMs?: number;
  /** Progress output. Default none. */
  progress?(line: string): void;
}

/** A running fleet. */
export interface LimitsFleet {
  readonly nats: NatsServer;
  readonly proxies: readonly Proxy[];
  /** The proxies' traffic URLs. */
  readonly urls: readonly string[];
  /** The keys' tokens. */
  readonly tokens: readonly string[];
  /** Stops the proxies, their connections, the simulator and nats-server (safe to call twice). */
  close(): Promise<void>;
}

/** Starts nats-server, the simulator and the proxies; resolves once every proxy serves the keys and sees the others. */
export async function startLimitsFleet(options: LimitsFleetOptions): Promise<LimitsFleet> {
  const count = options.proxies ?? 3;
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? "warn" });
  const transports: NatsTransport[] = [];
  const proxies: Proxy[] = [];
  let nats: NatsServer | undefined;
  let sim: Simulator | undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const p of proxies) await p.close();
    for (const t of transports) await t.close().catch(() => undefined);
    await sim?.close();
    await nats?.stop();
  };
  try {
    nats = await startNatsServer();
    sim = await startSimulator({ models: ["m:1b"], parallel: 1024, outputTokens: 1 });
    options.progress?.(`nats-server ${nats.url}, simulator ${sim.url}`);
    const keys = Array.from({ length: options.keys ?? 1 }, () => newApiToken());
    const snapshot = create(RoutingSnapshotSchema, {
      version: 1n,
      createdAt: timestampNow(),
      nodes: [{ id: "sim", baseUrl: sim.url }],
      routes: [{ name: ROUTE, defaultVariant: "v", seed: ROUTE, variants: [{ name: "v", model: "m:1b" }] }],
      keys: keys.map((k) => ({
        id: k.id,
        role: Role.CLIENT,
        secretSha256: k.secretSha256,
        limits: { requestsPerMinute: options.limit },
      })),
    });
    snapshot.contentHash = snapshotContentHash(snapshot);
    for (let i = 0; i < count; i++) {
      const id = `p${i + 1}`;
      const t = await createNatsTransport({ servers: nats.url, name: id, logger });
      transports.push(t);
      if (i === 0) await t.store.put(SNAPSHOT_KEY, toBinary(RoutingSnapshotSchema, snapshot));
      proxies.push(
        await startProxy({
          store: t.store,
          bus: t.bus,
          port: 0,
          logger,
          id,
          closeGraceMs: 500,
          clientAuth: { requireClientKeys: true },
          keyLimitWindowMs: options.windowMs,
          keyUsageRefreshMs: options.refreshMs,
          refSecret: "limits-bench-ref-secret-0123",
        }),
      );
    }
    const deadline = AbortSignal.timeout(15_000);
    await Promise.all(proxies.map((p) => p.waitForVersion(1, deadline)));
    // Every proxy hears the others' heartbeats (each one's first comes within a refresh interval).
    while (!proxies.every((p) => p.keyLimiter.livePeers() === count - 1)) {
      if (deadline.aborted) throw new Error("the proxies did not see each other's key usage reports within 15 s");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    options.progress?.(`${count} proxies serving, each seeing ${count - 1} peers`);
    return { nats, proxies, urls: proxies.map((p) => p.url), tokens: keys.map((k) => k.token), close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Options of {@link driveEvenly}. */
export interface DriveOptions {
  /** Proxies to spread the requests over, round-robin. */
  urls: readonly string[];
  /** The key's token. */
  token: string;
  /** How long requests are started for, in ms (the answers of the last ones are awaited). Default: until `requests` are sent. */
  durationMs?: number;
  /** How many requests are sent at most. Default: as many as `durationMs` allows. */
  requests?: number;
  /** Requests in flight at once. Default 16. */
  concurrency?: number;
}

/** What a drive counted. */
export interface DriveResult {
  /** Requests answered 200, per proxy (same order as `urls`). */
  allowed: number[];
  /** Requests answered 429. */
  refused: number;
  /** Answers of any other status (should be none). */
  other: number;
}

/** Sends chats of one key round-robin over `urls` for `durationMs` (or `requests` of them) and counts the answers. */
export async function driveEvenly(options: DriveOptions): Promise<DriveResult> {
  const dispatcher = new Agent({ connections: 64, pipelining: 1 });
  const body = JSON.stringify({ model: ROUTE, stream: false, messages: [{ role: "user", content: "hi" }] });
  const headers = { "content-type": "application/json", authorization: `Bearer ${options.token}` };
  const result: DriveResult = { allowed: options.urls.map(() => 0), refused: 0, other: 0 };
  let next = 0;
  const end = performance.now() + (options.durationMs ?? Number.POSITIVE_INFINITY);
  const max = options.requests ?? Number.POSITIVE_INFINITY;
  const worker = async () => {
    while (performance.now() < end && next < max) {
      const i = next++ % options.urls.length;
      const res = await request(`${options.urls[i]}/api/chat`, { method: "POST", headers, body, dispatcher });
      await res.body.dump();
      if (res.statusCode === 200) result.allowed[i]++;
      else if (res.statusCode === 429) result.refused++;
      else result.other++;
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
  } finally {
    await dispatcher.close();
  }
  return result;
}
