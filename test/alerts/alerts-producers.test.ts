/**
 * The alerts contract end to end with the real producers, in embedded mode (`turnout up`'s
 * wiring: memory transport, control node with its alerts stage, one proxy): the rollout engine's
 * RolloutEvents and the proxy's NodeHealthChanged events, decoded by the alerts stage and
 * delivered to a real JSON webhook and a real Slack webhook — no hand-made event payloads.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { RolloutService, RolloutState } from "../../gen/turnout/v1/rollout_pb.js";
import { startControlNode, type ControlNode } from "../../src/cli/control-node.ts";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { withAlertFlags } from "../../src/control/config/alerts-config.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy, type Proxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createMemoryTransport } from "../../src/transport/memory/memory-transport.ts";
import type { Transport } from "../../src/transport/types.ts";
import { canaryConfig, startLoad } from "../rollout/rollout-harness.ts";
import { until } from "../support/until.ts";
import { startReceiver, type Received, type Receiver } from "./webhook-receiver.ts";

const SLACK_PATH = "/services/T1/B1/SECRET";

interface Gateway {
  transport: Transport;
  node: ControlNode;
  proxy: Proxy;
  close(): Promise<void>;
}

/** `turnout up --config FILE --alert-webhook URL/generic --alert-slack URL/services/…` over `yaml`. */
async function startGateway(yaml: string, receiver: Receiver): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), "turnout-alerts-producers-"));
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const transport = createMemoryTransport({ dir, fsync: false });
  const config = parseConfig(yaml, "test config");
  const alerts = withAlertFlags(config.alerts, [`${receiver.url}/generic`], [`${receiver.url}${SLACK_PATH}`]);
  const node = await startControlNode({
    transport,
    logger,
    bootstrap: config.state,
    port: 0,
    host: "127.0.0.1",
    id: "embedded",
    alerts,
  });
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
  return {
    transport,
    node,
    proxy,
    async close() {
      await proxy.close();
      await node.close();
      await transport.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The alerts of `kind` received so far, as [generic JSON body, Slack body] pairs' halves. */
function ofKind(receiver: Receiver, kind: string): { generic: Received[]; slack: Received[] } {
  const generic = receiver.received.filter((r) => r.path === "/generic" && r.body.kind === kind);
  const slack = receiver.received.filter(
    (r) =>
      r.path === SLACK_PATH &&
      typeof r.body.text === "string" &&
      r.body.blocks?.at(-1)?.elements?.[0]?.text?.includes(` ${kind} `),
  );
  return { generic, slack };
}

/** Waits until one alert of `kind` has arrived at each webhook (and returns them). */
async function bothArrived(receiver: Receiver, kind: string, timeoutMs = 15_000): Promise<{ generic: any; slack: any }> {
  const got = await until(
    `a ${kind} alert at both webhooks`,
    async () => {
      const { generic, slack } = ofKind(receiver, kind);
      return generic.length > 0 && slack.length > 0 ? { generic: generic[0].body, slack: slack[0].body } : undefined;
    },
    { timeoutMs, intervalMs: 20 },
  );
  return got;
}

/** The admin port's `/metrics` text. */
async function metrics(node: ControlNode): Promise<string> {
  return (await request(`${node.url}/metrics`)).body.text();
}

test("a canary failing 10 % of requests under load is rolled back: one rollback alert, from the real RolloutEvent, at the JSON and Slack webhooks", async (t) => {
  const receiver = await startReceiver();
  const sim = { models: ["qwen3:8b"], parallel: 64, ttftMs: 5, outputTokens: 4 };
  const stable = await startSimulator(sim);
  const canary = await startSimulator({ ...sim, errorRate: 0.1, seed: 7 });
  let gw: Gateway | undefined;
  let load: ReturnType<typeof startLoad> | undefined;
  t.after(async () => {
    await load?.stop();
    await gw?.close();
    await Promise.all([stable.close(), canary.close()]);
    await receiver.close();
  });
  gw = await startGateway(canaryConfig(stable.url, canary.url), receiver);
  const node = gw.node;
  const counts = (load = startLoad(gw.proxy.url)).counts;
  const rollouts = createClient(RolloutService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));
  await until("traffic on stable", async () => (counts.get("stable 200") ?? 0) > 50);

  const { rollout } = await rollouts.startRollout({
    route: "chat",
    to: "canary",
    steps: [20, 50, 100],
    intervalMs: 1000,
    gates: { maxErrorRate: 0.05, minSamples: 20 },
  });
  const id = rollout!.id;
  const alert = await bothArrived(receiver, "rollback");

  // The rollout did roll back, and its audit log's decision is what the alert says.
  const r = (await rollouts.getRollout({ id })).rollout!;
  assert.equal(r.state, RolloutState.ROLLED_BACK, r.reason);
  const { entries } = await rollouts.getAuditLog({ rolloutId: id });
  const back = entries.find((e) => e.kind === "rolled_back")!;
  assert.ok(back, entries.map((e) => e.kind).join(", "));
  const failedAt = back.evaluation!.canaryPercent;
  assert.ok(failedAt === 20 || failedAt === 50, `failed at ${failedAt} %`);

  const g = alert.generic;
  assert.equal(g.source, "turnout");
  assert.equal(g.kind, "rollback");
  assert.equal(g.severity, "critical");
  assert.equal(g.title, "Rollout of chat rolled back");
  assert.deepEqual(
    {
      route: g.details.route,
      rolloutId: g.details.rolloutId,
      fromVariant: g.details.fromVariant,
      toVariant: g.details.toVariant,
      canaryPercent: g.details.canaryPercent,
      reason: g.details.reason,
    },
    { route: "chat", rolloutId: id, fromVariant: "stable", toVariant: "canary", canaryPercent: failedAt, reason: back.reason },
  );
  assert.match(g.details.reason, /error/);
  assert.equal(g.text, `Route chat rolled back from canary at ${failedAt}% to stable: ${back.reason}`);
  assert.ok(!Number.isNaN(Date.parse(g.at)));

  const s = alert.slack;
  assert.equal(s.blocks[0].text.text, g.title);
  assert.ok(s.blocks[1].text.text.includes(`rolled back from canary at ${failedAt}% to stable`), s.blocks[1].text.text);
  const fields = Object.fromEntries((s.blocks[2].fields as { text: string }[]).map((f) => f.text.split("\n")));
  assert.deepEqual(
    [fields["*route*"], fields["*fromVariant*"], fields["*toVariant*"], fields["*canaryPercent*"]],
    ["chat", "stable", "canary", String(failedAt)],
  );

  // Exactly one: the stage raised one rollback and both webhooks got it once.
  const raised = 'turnout_alerts_raised_total{kind="rollback"} 1\n';
  const sent = `turnout_alerts_sent_total{webhook="${receiver.url}",kind="rollback"} 2\n`;
  const text = await until(
    "the rollback counted as raised once and sent twice",
    async () => {
      const m = await metrics(node);
      return m.includes(raised) && m.includes(sent) ? m : undefined;
    },
    { timeoutMs: 5000 },
  );
  assert.ok(!text.includes("SECRET"));
  const { generic, slack } = ofKind(receiver, "rollback");
  assert.deepEqual([generic.length, slack.length], [1, 1]);
  assert.equal(ofKind(receiver, "gate_failed").generic.length, 0, "gate_failed is opt-in");
});

test("a simulator node killed under health checks raises one node_down naming it; restarted on its port, one node_up", async (t) => {
  const receiver = await startReceiver();
  const model = "qwen3:8b";
  const sims: Simulator[] = [await startSimulator({ models: [model] }), await startSimulator({ models: [model] })];
  let gw: Gateway | undefined;
  let revived: Simulator | undefined;
  t.after(async () => {
    await gw?.close();
    await Promise.all([...sims, ...(revived ? [revived] : [])].map((s) => s.close()));
    await receiver.close();
  });
  // Probes every 200 ms: a refused probe fails at once, so the dead node is out after 5 (~1 s),
  // while a healthy node would need 5 slow probes in a row.
  gw = await startGateway(
    `
nodes:
  - { id: gpu-1, url: "${sims[0].url}" }
  - { id: gpu-2, url: "${sims[1].url}" }
routes:
  - name: chat
    default: v
    variants: [ { name: v, model: "${model}" } ]
settings:
  health_check: { interval: 200ms, timeout: 200ms, unhealthy_threshold: 5, healthy_threshold: 1 }
  outlier_detection: { consecutive_failures: 2, base_ejection: 2m }
alerts:
  node_window: 200ms
`,
    receiver,
  );
  const proxyUrl = gw.proxy.url;
  const chat = async () => {
    const res = await request(`${proxyUrl}/api/chat`, {
      method: "POST",
      body: JSON.stringify({ model: "chat", stream: false, messages: [{ role: "user", content: "hi" }] }),
    });
    await res.body.text();
    return res.statusCode;
  };
  assert.equal(await chat(), 200);
  assert.equal(receiver.received.length, 0, "healthy nodes are not news");

  const victim = sims[1];
  await victim.close();
  const down = await bothArrived(receiver, "node_down");
  assert.equal(down.generic.title, "Node gpu-2 is down");
  assert.equal(down.generic.severity, "critical");
  assert.deepEqual(
    [down.generic.details.node, down.generic.details.baseUrl, down.generic.details.proxy],
    ["gpu-2", victim.url, "p1"],
  );
  assert.equal(typeof down.generic.details.reason, "string");
  assert.ok(down.generic.details.reason.length > 0);
  assert.ok(down.generic.text.startsWith(`Node gpu-2 (${victim.url}) is down as seen by proxy p1: `), down.generic.text);
  assert.equal(down.slack.blocks[0].text.text, "Node gpu-2 is down");
  assert.equal(await chat(), 200, "traffic goes on on gpu-1");

  revived = await startSimulator({ models: [model], port: victim.port });
  const up = await bothArrived(receiver, "node_up");
  assert.equal(up.generic.title, "Node gpu-2 is back");
  assert.deepEqual([up.generic.details.node, up.generic.details.baseUrl, up.generic.details.proxy], ["gpu-2", victim.url, "p1"]);
  assert.match(up.generic.details.reason, /active health check passed/);
  assert.equal(up.slack.blocks[0].text.text, "Node gpu-2 is back");

  // One of each, for gpu-2 only, at each webhook.
  await until(
    "node alerts counted",
    async () => {
      const m = await metrics(gw!.node);
      return (
        m.includes(`turnout_alerts_sent_total{webhook="${receiver.url}",kind="node_up"} 2\n`) &&
        m.includes(`turnout_alerts_sent_total{webhook="${receiver.url}",kind="node_down"} 2\n`)
      );
    },
    { timeoutMs: 5000 },
  );
  for (const kind of ["node_down", "node_up"]) {
    const { generic, slack } = ofKind(receiver, kind);
    assert.deepEqual([generic.length, slack.length], [1, 1], kind);
  }
  assert.ok(receiver.received.filter((r) => r.path === "/generic").every((r) => r.body.details.node === "gpu-2"));
});
