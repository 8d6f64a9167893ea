/**
 * A distributed Turnout for integration tests: a real nats-server, control planes and proxies as
 * `turnout control|proxy --nats` child processes, simulated Ollama nodes, Connect admin clients.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { FleetService } from "../../gen/turnout/v1/fleet_pb.js";
import { MetricsService } from "../../gen/turnout/v1/metrics_pb.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { startTurnout, type TurnoutProcess } from "../support/turnout-process.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";

/** Admin clients of one control plane. */
export interface ControlClients {
  admin: Client<typeof AdminService>;
  fleet: Client<typeof FleetService>;
  metrics: Client<typeof MetricsService>;
}

export function controlClients(url: string): ControlClients {
  const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
  return {
    admin: createClient(AdminService, transport),
    fleet: createClient(FleetService, transport),
    metrics: createClient(MetricsService, transport),
  };
}

export interface Cluster {
  nats: NatsServer;
  sim: Simulator;
  dir: string;
  controls: Map<string, TurnoutProcess>;
  proxies: Map<string, TurnoutProcess>;
  /** Starts (or restarts) control plane `id`. */
  startControl(id: string, withConfig?: boolean): Promise<TurnoutProcess>;
  /** Starts (or restarts) proxy `id` with its own data dir. */
  startProxy(id: string): Promise<TurnoutProcess>;
  close(): Promise<void>;
}

/** The config every cluster bootstraps from: route qwen3-32b with variants big and small. */
export function clusterConfig(simUrl: string): string {
  return `
nodes: [ { id: gpu-1, url: "${simUrl}" } ]
routes:
  - name: qwen3-32b
    default: big
    variants: [ { name: big, model: "qwen3:32b" }, { name: small, model: "qwen3:8b" } ]
`;
}

export async function startCluster(): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), "turnout-cluster-"));
  const nats = await startNatsServer();
  const sim = await startSimulator({
    models: ["qwen3:32b", "qwen3:8b"],
    parallel: 256,
    ttftMs: 1,
    tokensPerSecond: 2000,
    outputTokens: 6,
  });
  const configPath = join(dir, "turnout.yaml");
  await writeFile(configPath, clusterConfig(sim.url));
  const controls = new Map<string, TurnoutProcess>();
  const proxies = new Map<string, TurnoutProcess>();
  const cluster: Cluster = {
    nats,
    sim,
    dir,
    controls,
    proxies,
    async startControl(id, withConfig = true) {
      const args = ["control", "--nats", nats.url, "--admin-port", "0", "--id", id];
      const p = await startTurnout(withConfig ? [...args, "--config", configPath] : args, "admin");
      controls.set(id, p);
      return p;
    },
    async startProxy(id) {
      const p = await startTurnout(
        ["proxy", "--nats", nats.url, "--port", "0", "--id", id, "--data-dir", join(dir, id)],
        "traffic",
      );
      proxies.set(id, p);
      return p;
    },
    async close() {
      await Promise.all([...proxies.values(), ...controls.values()].map((p) => p.kill()));
      await nats.stop();
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** One non-streaming native chat; answers status, variant and snapshot headers. */
export async function chat(proxyUrl: string, user?: string): Promise<{ status: number; variant: string; snapshot: number }> {
  const res = await request(`${proxyUrl}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(user ? { "x-turnout-user": user } : {}) },
    body: JSON.stringify({ model: "qwen3-32b", stream: false, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.body.text();
  return {
    status: res.statusCode,
    variant: String(res.headers["x-turnout-variant"]),
    snapshot: Number(res.headers["x-turnout-snapshot"]),
  };
}

/** Resolves with the first fleet view (from WatchFleet) that satisfies `done`. */
export async function waitForFleet(
  clients: ControlClients,
  done: (view: {
    proxies: { status?: { id: string; appliedVersion: bigint; state: number; error: string }; sync: number }[];
  }) => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  for await (const view of clients.fleet.watchFleet({}, { signal })) {
    if (done(view)) return;
  }
  throw new Error("WatchFleet ended before the fleet reached the expected state");
}
