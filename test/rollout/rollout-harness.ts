/**
 * Rollout test harness: the embedded gateway wired as `turnout up` wires it (file store, bus and
 * outcome log in a temp dir; control plane + admin server; one proxy), over two simulated Ollama
 * nodes on port 0 — one per variant of the route "chat", so the canary's node can fail a share
 * of requests — plus a steady load generator through the proxy. `restartControl()` closes the
 * control plane and starts a new one over the same store while the proxy keeps serving.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { RolloutService } from "../../gen/turnout/v1/rollout_pb.js";
import { startAdminServer, type AdminServer } from "../../src/control/admin/admin-server.ts";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { createControlPlane, type ControlPlane, type ControlPlaneOptions } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createMemoryTransport } from "../../src/transport/memory/memory-transport.ts";
import type { Transport } from "../../src/transport/types.ts";

export interface RolloutGateway {
  stable: Simulator;
  canary: Simulator;
  transport: Transport;
  controlPlane: ControlPlane;
  proxyUrl: string;
  admin: Client<typeof AdminService>;
  rollouts: Client<typeof RolloutService>;
  adminUrl: string;
  /** Closes the control plane and its admin server, then starts new ones over the same store. */
  restartControl(): Promise<void>;
  close(): Promise<void>;
}

/** A route `chat` with a stable and a canary variant, each on its own node. */
export const canaryConfig = (stableUrl: string, canaryUrl: string) => `
nodes:
  - { id: n-stable, url: "${stableUrl}" }
  - { id: n-canary, url: "${canaryUrl}" }
routes:
  - name: chat
    default: stable
    variants:
      - { name: stable, model: "qwen3:8b", nodes: [n-stable] }
      - { name: canary, model: "qwen3:8b", nodes: [n-canary] }
`;

/** Starts the gateway; the canary's node fails `canaryErrorRate` of its requests. */
export async function startRolloutGateway(
  options: { canaryErrorRate?: number; rollouts?: ControlPlaneOptions["rollouts"] } = {},
): Promise<RolloutGateway> {
  const sim = { models: ["qwen3:8b"], parallel: 64, ttftMs: 5, outputTokens: 4 };
  const stable = await startSimulator(sim);
  const canary = await startSimulator({ ...sim, errorRate: options.canaryErrorRate ?? 0, seed: 7 });
  const dir = await mkdtemp(join(tmpdir(), "turnout-rollout-"));
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const transport = createMemoryTransport({ dir, fsync: false });
  const { state } = parseConfig(canaryConfig(stable.url, canary.url), "test config");
  const plane = async () => {
    const controlPlane = await createControlPlane({
      store: transport.store,
      bus: transport.bus,
      outcomes: transport.outcomes,
      logger,
      bootstrap: state,
      consumerName: "control",
      rollouts: { scanMs: 200, ...options.rollouts },
    });
    const server = await startAdminServer({ port: 0, host: "127.0.0.1", controlPlane, logger });
    return { controlPlane, server };
  };
  let control: { controlPlane: ControlPlane; server: AdminServer } = await plane();
  const proxy = await startProxy({
    store: transport.store,
    bus: transport.bus,
    outcomes: transport.outcomes,
    port: 0,
    host: "127.0.0.1",
    logger,
    id: "p1",
    heartbeatMs: 250,
    dataDir: join(dir, "proxy"),
  });
  const clients = (url: string) => {
    const t = createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
    return { admin: createClient(AdminService, t), rollouts: createClient(RolloutService, t) };
  };
  const gw: RolloutGateway = {
    stable,
    canary,
    transport,
    controlPlane: control.controlPlane,
    proxyUrl: proxy.url,
    adminUrl: control.server.url,
    ...clients(control.server.url),
    async restartControl() {
      await control.server.close();
      await control.controlPlane.close();
      control = await plane();
      Object.assign(gw, { controlPlane: control.controlPlane, adminUrl: control.server.url, ...clients(control.server.url) });
    },
    async close() {
      await proxy.close();
      await control.server.close();
      await control.controlPlane.close();
      await transport.close();
      await Promise.all([stable.close(), canary.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return gw;
}

/** Steady load through the proxy: `concurrency` loops of chats from random users. */
export interface Load {
  /** Answers seen, by variant and HTTP status ("canary 500": 3). */
  counts: Map<string, number>;
  /** Resolves once every request in flight now is answered (later ones are not waited for). */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export function startLoad(proxyUrl: string, concurrency = 4): Load {
  const counts = new Map<string, number>();
  let running = true;
  let n = 0;
  const inFlight = new Set<Promise<void>>();
  const one = async (w: number) => {
    const stream = ++n % 3 === 0;
    try {
      const res = await request(`${proxyUrl}/api/chat`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-turnout-user": `user-${w}-${Math.floor(Math.random() * 1e9)}` },
        body: JSON.stringify({ model: "chat", stream, messages: [{ role: "user", content: "hi" }] }),
      });
      await res.body.text();
      const key = `${res.headers["x-turnout-variant"]} ${res.statusCode}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    } catch {
      counts.set("failed", (counts.get("failed") ?? 0) + 1);
    }
  };
  const loop = async (w: number) => {
    while (running) {
      const answered = one(w);
      inFlight.add(answered);
      await answered;
      inFlight.delete(answered);
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => loop(w));
  return {
    counts,
    async settled() {
      await Promise.all([...inFlight]);
    },
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}
