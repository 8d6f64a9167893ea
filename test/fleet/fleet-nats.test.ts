import { test } from "node:test";
import assert from "node:assert/strict";
import { fromJsonString } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { connect } from "@nats-io/transport-node";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { ConfigChangedSchema } from "../../gen/turnout/v1/events_pb.js";
import { FleetService, SyncState } from "../../gen/turnout/v1/fleet_pb.js";
import { startAdminServer } from "../../src/control/admin/admin-server.ts";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { createControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy, type Proxy } from "../../src/proxy/proxy.ts";
import { startSimulator } from "../../src/sim/simulator.ts";
import { createNatsTransport, type NatsTransport } from "../../src/transport/nats/nats-transport.ts";
import { SUBJECTS } from "../../src/transport/types.ts";
import { startNatsServer } from "../support/nats-server.ts";

const logger = createLogger({ level: "silent" });

test("over a real nats-server, 3 proxies report and ListProxies shows them all synced on the new version", async () => {
  const nats = await startNatsServer();
  const sim = await startSimulator({ models: ["qwen3:32b", "qwen3:8b"], ttftMs: 1, tokensPerSecond: 1000, outputTokens: 3 });
  const transports: NatsTransport[] = [];
  const proxies: Proxy[] = [];
  const open = async (name: string) => {
    const t = await createNatsTransport({ servers: nats.url, name, logger });
    transports.push(t);
    return t;
  };
  const plain = await connect({ servers: nats.url, name: "plain-subscriber" });
  let controlPlane: Awaited<ReturnType<typeof createControlPlane>> | undefined;
  let adminServer: Awaited<ReturnType<typeof startAdminServer>> | undefined;
  try {
    const control = await open("turnout-control");
    const { state } = parseConfig(
      `nodes:\n  - { id: n1, url: "${sim.url}" }\nroutes:\n  - name: qwen3-32b\n    default: big\n    variants:\n      - { name: big, model: "qwen3:32b" }\n      - { name: small, model: "qwen3:8b" }\n`,
      "test config",
    );
    controlPlane = await createControlPlane({ store: control.store, bus: control.bus, logger, bootstrap: state });
    adminServer = await startAdminServer({ port: 0, host: "127.0.0.1", controlPlane, logger });
    const admin = createClient(AdminService, createConnectTransport({ baseUrl: adminServer.url, httpVersion: "1.1" }));
    const fleet = createClient(FleetService, createConnectTransport({ baseUrl: adminServer.url, httpVersion: "1.1" }));

    // Three proxies, each on its own NATS connection; wait until the control plane sees all three.
    const allSeen = (async () => {
      for await (const view of controlPlane.fleet!.watch(AbortSignal.timeout(10_000))) if (view.proxies.length === 3) return;
    })();
    for (const id of ["p1", "p2", "p3"]) {
      const t = await open(`turnout-proxy-${id}`);
      proxies.push(await startProxy({ store: t.store, bus: t.bus, port: 0, logger, id, heartbeatMs: 200, closeGraceMs: 200 }));
    }
    await allSeen;

    // A plain NATS client follows the config events as JSON.
    const events = plain.subscribe(SUBJECTS.configChanged, { max: 1 });
    await plain.flush();

    const switched = await admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 10_000 });
    const c = switched.convergence!;
    assert.deepEqual([c.version, c.live, c.synced, c.stale, c.nacked, c.converged], [switched.snapshotVersion, 3, 3, 0, 0, true]);
    assert.ok(c.publishToLastAckMs >= 0 && c.publishToLastAckMs < 10_000, `publish to last ACK ${c.publishToLastAckMs} ms`);

    const list = await fleet.listProxies({});
    assert.deepEqual(
      list.proxies.map((e) => [e.status!.id, e.sync, e.status!.appliedVersion]),
      ["p1", "p2", "p3"].map((id) => [id, SyncState.SYNCED, switched.snapshotVersion]),
    );
    assert.deepEqual(
      list.proxies.map((e) => e.status!.url),
      proxies.map((p) => p.url),
    );
    assert.equal(list.latest!.converged, true);

    for await (const m of events) {
      const changed = fromJsonString(ConfigChangedSchema, m.string());
      assert.deepEqual(
        [changed.kind, changed.name, changed.action, changed.snapshotVersion],
        ["route", "qwen3-32b", "switch", switched.snapshotVersion],
      );
    }
  } finally {
    for (const p of proxies) await p.close();
    await adminServer?.close();
    await controlPlane?.close();
    for (const t of transports) await t.close();
    await plain.close();
    await sim.close();
    await nats.stop();
  }
});
