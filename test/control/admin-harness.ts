/**
 * Test harness for the control plane: a file store in a temp directory, a control plane, and a
 * real admin server on port 0 with a Connect client. `reopen()` closes everything and starts it
 * again over the same directory (a restart).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { startAdminServer, type AdminServer } from "../../src/control/admin/admin-server.ts";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import type { DesiredState } from "../../src/control/state/desired-state.ts";
import { createLogger } from "../../src/log.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import type { KvStore } from "../../src/transport/types.ts";

export interface Plane {
  dir: string;
  store: KvStore;
  controlPlane: ControlPlane;
  server: AdminServer;
  admin: Client<typeof AdminService>;
  /** A client over another transport to the same server. */
  clientWith(make: (baseUrl: string) => Transport): Client<typeof AdminService>;
  close(): Promise<void>;
}

/** Starts store + control plane + admin server over `dir` (a new temp dir when omitted). */
export async function startPlane(
  options: { dir?: string; bootstrap?: DesiredState; httpVersion?: "1.1" | "2" } = {},
): Promise<Plane> {
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "turnout-control-"));
  const logger = createLogger({ level: "silent" });
  const store = createFileKvStore({ dir, fsync: false });
  let controlPlane: ControlPlane;
  try {
    controlPlane = await createControlPlane({ store, logger, bootstrap: options.bootstrap });
  } catch (err) {
    await store.close();
    if (options.dir === undefined) removeDir(dir);
    throw err;
  }
  const server = await startAdminServer({ port: 0, host: "127.0.0.1", controlPlane, logger });
  const admin = createClient(
    AdminService,
    createConnectTransport({ baseUrl: server.url, httpVersion: options.httpVersion ?? "2" }),
  );
  return {
    dir,
    store,
    controlPlane,
    server,
    admin,
    clientWith: (make) => createClient(AdminService, make(server.url)),
    async close() {
      await server.close();
      await controlPlane.close();
      await store.close();
    },
  };
}

/** Removes a plane's directory. */
export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
