/**
 * Test harness: the embedded gateway wired as `turnout up` wires it (file store, control plane,
 * admin server, proxy), over simulated Ollama nodes on port 0, in a temp data directory.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { createLogger } from "../../src/log.ts";
import { createMemoryTransport } from "../../src/transport/memory/memory-transport.ts";
import type { EventBus, KvStore } from "../../src/transport/types.ts";
import { createControlPlane } from "../../src/control/control-plane.ts";
import { startAdminServer } from "../../src/control/admin/admin-server.ts";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { startProxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator, type SimulatorOptions } from "../../src/sim/simulator.ts";

export interface Embedded {
  sims: Simulator[];
  proxyUrl: string;
  adminUrl: string;
  admin: Client<typeof AdminService>;
  proxy: Awaited<ReturnType<typeof startProxy>>;
  dataDir: string;
  /** The in-process bus the control plane and the proxy share (proxy status, config events). */
  bus: EventBus;
  /** The store the control plane writes and the proxy watches. */
  store: KvStore;
  controlPlane: Awaited<ReturnType<typeof createControlPlane>>;
  close(): Promise<void>;
}

/** Starts `simCount` simulators, then the gateway with `config(simUrls)` as its bootstrap YAML. */
export async function startEmbedded(options: {
  sims: SimulatorOptions[];
  config: (simUrls: string[]) => string;
  dataDir?: string;
  /** Proxy status heartbeat interval in ms. Default 1000. */
  heartbeatMs?: number;
}): Promise<Embedded> {
  const sims = await Promise.all(options.sims.map((o) => startSimulator(o)));
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "turnout-it-")));
  const logger = createLogger({ level: "silent" });
  const transport = createMemoryTransport({ dir: dataDir, fsync: false });
  const { store, bus, outcomes } = transport;
  const { state } = parseConfig(options.config(sims.map((s) => s.url)), "test config");
  const controlPlane = await createControlPlane({ store, bus, logger, bootstrap: state, outcomes, consumerName: "control" });
  const adminServer = await startAdminServer({ port: 0, host: "127.0.0.1", controlPlane, logger });
  const proxy = await startProxy({
    store,
    port: 0,
    host: "127.0.0.1",
    logger,
    id: "test-proxy",
    bus,
    heartbeatMs: options.heartbeatMs,
    dataDir: join(dataDir, "proxy"),
    outcomes,
  });
  const admin = createClient(AdminService, createConnectTransport({ baseUrl: adminServer.url, httpVersion: "1.1" }));
  return {
    sims,
    proxyUrl: proxy.url,
    adminUrl: adminServer.url,
    admin,
    proxy,
    dataDir,
    bus,
    store,
    controlPlane,
    async close() {
      await proxy.close();
      await adminServer.close();
      await controlPlane.close();
      await transport.close();
      await Promise.all(sims.map((s) => s.close()));
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** What one streamed native chat saw. */
export interface StreamResult {
  status: number;
  variant: string | undefined;
  snapshot: number;
  lines: Record<string, unknown>[];
  /** True when the last line is `done:true` and no line carries an error. */
  complete: boolean;
}

/**
 * Streams a native `/api/chat` through the proxy. `onHeaders` runs once the response headers
 * (and so the pinned snapshot) are known.
 */
export async function streamChat(
  baseUrl: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  onHeaders?: (snapshot: number) => void,
): Promise<StreamResult> {
  const res = await request(`${baseUrl}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ stream: true, ...body }),
  });
  const snapshot = Number(res.headers["x-turnout-snapshot"]);
  onHeaders?.(snapshot);
  const text = await res.body.text();
  const lines = text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = lines.at(-1);
  return {
    status: res.statusCode,
    variant: res.headers["x-turnout-variant"] as string | undefined,
    snapshot,
    lines,
    complete: last?.done === true && lines.every((l) => l.error === undefined),
  };
}
