import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { RolloutPhase, RolloutService, RolloutState } from "../../gen/turnout/v1/rollout_pb.js";
import { startAdminServer, type AdminServer } from "../../src/control/admin/admin-server.ts";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createNatsTransport, type NatsTransport } from "../../src/transport/nats/nats-transport.ts";
import { SUBJECTS } from "../../src/transport/types.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { canaryConfig, startLoad } from "./rollout-harness.ts";
import { until } from "../support/until.ts";

const logger = createLogger({ level: "silent" });
let nats: NatsServer;
let stable: Simulator;
let canary: Simulator;
before(async () => {
  nats = await startNatsServer();
  stable = await startSimulator({ models: ["qwen3:8b"], parallel: 64, ttftMs: 5, outputTokens: 4 });
  canary = await startSimulator({ models: ["qwen3:8b"], parallel: 64, ttftMs: 5, outputTokens: 4 });
});
after(async () => {
  await Promise.all([stable.close(), canary.close()]);
  await nats.stop();
});

interface Control {
  transport: NatsTransport;
  controlPlane: ControlPlane;
  admin: AdminServer;
  rollouts: Client<typeof RolloutService>;
}

/** A control plane "process": its own NATS connection and durable outcome consumer, an admin server. */
async function startControl(id: string): Promise<Control> {
  const transport = await createNatsTransport({ servers: nats.url, name: `turnout-control-${id}`, logger });
  const controlPlane = await createControlPlane({
    store: transport.store,
    bus: transport.bus,
    outcomes: transport.outcomes,
    logger,
    bootstrap: parseConfig(canaryConfig(stable.url, canary.url), "test config").state,
    consumerName: `control-${id}`,
    rollouts: { scanMs: 200, leaseMs: 3000 },
  });
  const admin = await startAdminServer({ port: 0, host: "127.0.0.1", controlPlane, logger });
  const rollouts = createClient(RolloutService, createConnectTransport({ baseUrl: admin.url, httpVersion: "1.1" }));
  return { transport, controlPlane, admin, rollouts };
}

async function stopControl(c: Control): Promise<void> {
  await c.admin.close();
  await c.controlPlane.close();
  await c.transport.close();
}

test("NATS: two control planes drive a rollout once; when the driving one stops mid-rollout the other resumes it at the same step", async (t) => {
  const a = await startControl("a");
  const b = await startControl("b");
  const proxyTransport = await createNatsTransport({ servers: nats.url, name: "turnout-proxy", logger });
  const proxy = await startProxy({
    store: proxyTransport.store,
    bus: proxyTransport.bus,
    outcomes: proxyTransport.outcomes,
    port: 0,
    host: "127.0.0.1",
    logger,
    id: "p1",
    heartbeatMs: 250,
  });
  const load = startLoad(proxy.url, 3);
  const events = new AbortController();
  const published: Record<string, unknown>[] = [];
  void (async () => {
    for await (const m of proxyTransport.bus.subscribe(SUBJECTS.rolloutEvents, events.signal))
      published.push(JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>);
  })();
  let aStopped = false;
  let bStopped = false;
  t.after(async () => {
    events.abort();
    await load.stop();
    await proxy.close();
    await proxyTransport.close();
    if (!aStopped) await stopControl(a);
    if (!bStopped) await stopControl(b);
  });
  await until("traffic", async () => (load.counts.get("stable 200") ?? 0) > 30);

  // Started through b; b holds the lease and drives it. a sees the same record.
  const intervalMs = 2500;
  const { rollout } = await b.rollouts.startRollout({
    route: "chat",
    to: "canary",
    steps: [10, 40, 100],
    intervalMs,
    gates: { maxErrorRate: 0.05, minSamples: 10 },
  });
  const id = rollout!.id;
  await assert.rejects(a.rollouts.startRollout({ route: "chat", to: "canary" }), /route "chat" already has an active rollout/);
  const dwelling = await until(
    "step 2 dwelling",
    async () => {
      const r = (await a.rollouts.getRollout({ id })).rollout!;
      return r.step === 2 && r.phase === RolloutPhase.DWELLING ? r : undefined;
    },
    { timeoutMs: 20_000 },
  );

  // b stops (gives its lease up); a takes over at step 2 and waits out the stored dwell.
  await stopControl(b);
  bStopped = true;
  const r = await until(
    "the rollout to complete on a",
    async () => {
      const x = (await a.rollouts.getRollout({ id })).rollout!;
      return x.state === RolloutState.COMPLETED ? x : undefined;
    },
    { timeoutMs: 20_000 },
  );
  assert.equal(r.canaryPercent, 100);
  const { entries } = await a.rollouts.getAuditLog({ rolloutId: id });
  assert.deepEqual(
    entries.filter((e) => e.kind !== "held").map((e) => [e.kind, e.step]),
    [
      ["started", 0],
      ["step", 1],
      ["step", 2],
      ["completed", 3],
    ],
    "every step applied once, across two control planes",
  );
  const completedAt = timestampMs(entries.at(-1)!.at!);
  assert.ok(completedAt - timestampMs(dwelling.dwellEndsAt!) < intervalMs, "the takeover continued the stored dwell");
  const current = await a.controlPlane.admin.getCurrentModel("chat");
  assert.equal(current.variant, "canary");
  await until("the completed event on NATS", async () => published.some((e) => e.kind === "completed" && e.rolloutId === id));
  assert.deepEqual(
    published.filter((e) => e.rolloutId === id && e.kind !== "held").map((e) => e.kind),
    ["started", "step", "step", "completed"],
  );

  // b restarts and finds the finished rollout as it was.
  const b2 = await startControl("b");
  t.after(() => stopControl(b2));
  assert.equal((await b2.rollouts.getRollout({ id })).rollout!.state, RolloutState.COMPLETED);
  await stopControl(a);
  aStopped = true;
});
