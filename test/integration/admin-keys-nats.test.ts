/**
 * Keys across control planes on a real nats-server: two control planes share the store, so a
 * key made through one is accepted by the other, a revocation through one is refused by the
 * other on the very next call, and both write one audit log. A third control plane on the same
 * NATS with no admin token starts open on loopback and closes (within its recheck interval) once
 * an admin key is stored elsewhere.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { KeyService } from "../../gen/turnout/v1/keys_pb.js";
import { Role } from "../../gen/turnout/v1/routing_pb.js";
import { bearer } from "../../src/cli/admin-client.ts";
import { startAdminServer, type AdminServer } from "../../src/control/admin/admin-server.ts";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { createNatsTransport, type NatsTransport } from "../../src/transport/nats/nats-transport.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { until } from "../support/until.ts";

const logger = createLogger({ level: "silent" });
const ADMIN_TOKEN = "nats-test-admin-token-0123456789";
let nats: NatsServer;
before(async () => {
  nats = await startNatsServer();
});
after(async () => {
  await nats.stop();
});

interface Control {
  transport: NatsTransport;
  controlPlane: ControlPlane;
  server: AdminServer;
  client<S extends typeof AdminService | typeof KeyService>(service: S, token?: string): ReturnType<typeof createClient<S>>;
}

const { state } = parseConfig(
  `
nodes: [ { id: gpu-1, url: "http://127.0.0.1:9" } ]
routes: [ { name: chat, default: big, variants: [ { name: big, model: "qwen3:32b" }, { name: small, model: "qwen3:8b" } ] } ]
`,
  "test config",
);

/** A control plane "process" on the KV bucket `bucket`, with its own NATS connection and admin server. */
async function startControl(
  t: { after: (fn: () => Promise<void>) => void },
  id: string,
  bucket: string,
  adminToken?: string,
): Promise<Control> {
  const transport = await createNatsTransport({ servers: nats.url, name: `turnout-control-${id}`, logger, bucket });
  const controlPlane = await createControlPlane({ store: transport.store, bus: transport.bus, logger, bootstrap: state });
  const server = await startAdminServer({ port: 0, host: "127.0.0.1", controlPlane, logger, auth: { adminToken } });
  t.after(async () => {
    await server.close();
    await controlPlane.close();
    await transport.close();
  });
  return {
    transport,
    controlPlane,
    server,
    client: (service, token) =>
      createClient(
        service,
        createConnectTransport({
          baseUrl: server.url,
          httpVersion: "1.1",
          interceptors: token === undefined ? [] : [bearer(token)],
        }),
      ),
  };
}

const code = (e: unknown) => Code[ConnectError.from(e).code];

test("NATS: a key made through one control plane works on another, and its revocation is refused there on the next call", async (t) => {
  const a = await startControl(t, "a", "keys_ab", ADMIN_TOKEN);
  const b = await startControl(t, "b", "keys_ab", ADMIN_TOKEN);
  const made = await a.client(KeyService, ADMIN_TOKEN).createKey({ name: "ops", role: Role.OPERATOR });
  const onB = b.client(AdminService, made.token);
  await onB.setWeights({
    route: "chat",
    weights: [
      { variant: "big", weight: 50 },
      { variant: "small", weight: 50 },
    ],
  });

  const revoked = await a.client(KeyService, ADMIN_TOKEN).revokeKey({ id: made.key!.id });
  await assert.rejects(onB.listNodes({}), (e: unknown) => code(e) === "Unauthenticated");
  const snapshot = (await b.client(AdminService, ADMIN_TOKEN).getSnapshot({})).snapshot!;
  assert.ok(snapshot.version >= revoked.snapshotVersion);
  assert.ok(!snapshot.keys.some((k) => k.id === made.key!.id), "the published snapshot no longer carries the key");

  // one audit log: B lists what A recorded, and A what B recorded
  const entries = (await b.client(KeyService, ADMIN_TOKEN).listAuditEntries({})).entries;
  assert.deepEqual(
    entries.map((e) => [e.keyId, e.method, e.code]),
    [
      ["bootstrap", "turnout.v1.KeyService/CreateKey", "ok"],
      [made.key!.id, "turnout.v1.AdminService/SetWeights", "ok"],
      ["bootstrap", "turnout.v1.KeyService/RevokeKey", "ok"],
    ],
  );
});

test("NATS: an open loopback control plane closes once an admin key is stored through another one", async (t) => {
  const c = await startControl(t, "c", "keys_cd"); // no token: open while the shared store holds no admin key
  const d = await startControl(t, "d", "keys_cd", ADMIN_TOKEN);
  assert.equal((await c.client(AdminService).listNodes({})).nodes.length, 1, "open");
  await d.client(KeyService, ADMIN_TOKEN).createKey({ name: "admin", role: Role.ADMIN });
  await until("c to require a key", () =>
    c
      .client(AdminService)
      .listNodes({})
      .then(
        () => false,
        (e: unknown) => code(e) === "Unauthenticated",
      ),
  );
});
