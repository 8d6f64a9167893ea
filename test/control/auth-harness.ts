/**
 * Test harness for admin authentication: the embedded transport in a temp directory, a simulated
 * Ollama node, a control plane with a route on it to switch and weigh, and a real admin server on
 * port 0 (loopback), with Connect clients that send a given token. The clock is the test's:
 * `clock.ms` drives key expiry.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { bearer } from "../../src/cli/admin-client.ts";
import { startAdminServer, type AdminServer } from "../../src/control/admin/admin-server.ts";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { startSimulator } from "../../src/sim/simulator.ts";
import { createMemoryTransport, type MemoryTransport } from "../../src/transport/memory/memory-transport.ts";

/** A bootstrap admin token for tests (32 characters). */
export const ADMIN_TOKEN = "test-admin-token-0123456789abcde";

export interface AuthPlane {
  url: string;
  transport: MemoryTransport;
  controlPlane: ControlPlane;
  server: AdminServer;
  /** The test clock (epoch ms) the control plane and its keys run on. */
  clock: { ms: number };
  /** A Connect client of `service` sending `authorization: Bearer <token>` (none when undefined). */
  client<S extends DescService>(service: S, token?: string): Client<S>;
  close(): Promise<void>;
}

const config = (url: string) => `
nodes: [ { id: gpu-1, url: "${url}" } ]
routes:
  - name: chat
    default: big
    variants: [ { name: big, model: "qwen3:32b" }, { name: small, model: "qwen3:8b" } ]
`;

/** Starts a control plane and its admin server; closed (and its directory removed) after the test. */
export async function startAuthPlane(
  t: { after: (fn: () => Promise<void>) => void },
  options: { adminToken?: string; auditCapacity?: number; logger?: Logger } = {},
): Promise<AuthPlane> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-auth-"));
  const logger = options.logger ?? createLogger({ level: "silent" });
  const sim = await startSimulator({ models: ["qwen3:32b", "qwen3:8b"] });
  const transport = createMemoryTransport({ dir, fsync: false });
  const clock = { ms: Date.now() };
  const controlPlane = await createControlPlane({
    store: transport.store,
    bus: transport.bus,
    logger,
    bootstrap: parseConfig(config(sim.url), "test config").state,
    now: () => new Date(clock.ms),
    auditCapacity: options.auditCapacity,
  });
  const server = await startAdminServer({
    port: 0,
    host: "127.0.0.1",
    controlPlane,
    logger,
    auth: { adminToken: options.adminToken, now: () => clock.ms },
  });
  const plane: AuthPlane = {
    url: server.url,
    transport,
    controlPlane,
    server,
    clock,
    client(service, token) {
      return createClient(
        service,
        createConnectTransport({
          baseUrl: server.url,
          httpVersion: "1.1",
          interceptors: token === undefined ? [] : [bearer(token)],
        }),
      );
    },
    async close() {
      await server.close();
      await controlPlane.close();
      await transport.close();
      await sim.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  t.after(() => plane.close());
  return plane;
}
