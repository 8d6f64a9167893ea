import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { createAlerts } from "../../src/control/alerts/alerts.ts";
import { ALERT_SUBJECTS } from "../../src/control/alerts/alert-decoder.ts";
import { createMemoryEventBus } from "../../src/transport/memory/event-bus.ts";
import { nodeHealthChanged, proxyAck, proxyNack, rolloutEvent } from "./event-fixtures.ts";
import { startReceiver } from "./webhook-receiver.ts";

const logger = createLogger({ level: "silent" });

/** Publishes each event in turn and answers what the json and slack webhooks got for it. */
async function deliver(events: [string, Uint8Array][], expected: number, nodeWindowMs?: number) {
  const receiver = await startReceiver();
  const bus = createMemoryEventBus();
  const all = ["rollback", "gate_failed", "node_down", "node_up", "proxy_nack"] as const;
  const alerts = createAlerts({
    bus,
    logger,
    nodeWindowMs,
    webhooks: [
      { url: `${receiver.url}/json`, format: "json", events: all },
      { url: `${receiver.url}/services/T000/B000/SECRET`, format: "slack", events: all },
    ],
  });
  try {
    for (const [subject, data] of events) bus.publish(subject, data);
    await receiver.waitFor(expected * 2);
    const json = receiver.received.filter((r) => r.path === "/json").map((r) => r.body);
    const slack = receiver.received.filter((r) => r.path !== "/json").map((r) => r.body);
    for (const r of receiver.received) assert.equal(r.headers["content-type"], "application/json");
    return { json, slack };
  } finally {
    await alerts.close();
    await receiver.close();
  }
}

test("a proxy NACK becomes a proxy_nack alert in the generic JSON body and a Slack message", async () => {
  const { json, slack } = await deliver(
    [
      [ALERT_SUBJECTS.proxy, proxyAck("proxy-a", 6)],
      [
        ALERT_SUBJECTS.proxy,
        proxyNack({
          id: "proxy-a",
          version: 7,
          appliedVersion: 6,
          error: 'routes[0].default_variant: "missing" is not a variant <!channel>',
        }),
      ],
    ],
    1,
  );
  assert.deepEqual(json, [
    {
      source: "turnout",
      kind: "proxy_nack",
      severity: "warning",
      title: "Proxy proxy-a rejected snapshot 7",
      text: 'Proxy proxy-a rejected snapshot 7 and keeps serving snapshot 6: routes[0].default_variant: "missing" is not a variant <!channel>',
      at: "2026-12-01T18:00:00Z",
      details: {
        proxy: "proxy-a",
        version: 7,
        appliedVersion: 6,
        error: 'routes[0].default_variant: "missing" is not a variant <!channel>',
        host: "host-a",
      },
    },
  ]);
  assert.equal(slack.length, 1);
  const [message] = slack;
  assert.deepEqual(Object.keys(message), ["text", "blocks"]);
  assert.match(message.text, /^:warning: Proxy proxy-a rejected snapshot 7: /);
  assert.ok(message.text.includes("&lt;!channel&gt;") && !message.text.includes("<!channel>"), "mrkdwn escaped: no channel ping");
  assert.deepEqual(
    message.blocks.map((b: any) => b.type),
    ["header", "section", "section", "context"],
  );
  assert.deepEqual(message.blocks[0], {
    type: "header",
    text: { type: "plain_text", text: "Proxy proxy-a rejected snapshot 7", emoji: true },
  });
  assert.equal(message.blocks[1].text.type, "mrkdwn");
  assert.deepEqual(message.blocks[2].fields.slice(0, 2), [
    { type: "mrkdwn", text: "*proxy*\nproxy-a" },
    { type: "mrkdwn", text: "*version*\n7" },
  ]);
  assert.deepEqual(message.blocks[3], {
    type: "context",
    elements: [{ type: "mrkdwn", text: "turnout · proxy_nack · 2026-12-01T18:00:00Z" }],
  });
});

test("node down and back become node_down and node_up alerts with the node, its URL, the proxy and the reason", async () => {
  const { json, slack } = await deliver(
    [
      [
        ALERT_SUBJECTS.node,
        nodeHealthChanged({ node: "gpu-2", healthy: false, reason: "3 failed health checks: connect ECONNREFUSED" }),
      ],
      [
        ALERT_SUBJECTS.node,
        nodeHealthChanged({ node: "gpu-2", healthy: true, reason: "2 passed health checks", at: "2026-12-01T18:05:00Z" }),
      ],
    ],
    2,
    0, // no dedupe window: node-dedupe.test.ts covers it
  );
  assert.deepEqual(json[0], {
    source: "turnout",
    kind: "node_down",
    severity: "critical",
    title: "Node gpu-2 is down",
    text: "Node gpu-2 (http://10.0.0.2:11434) is down as seen by proxy proxy-a: 3 failed health checks: connect ECONNREFUSED",
    at: "2026-12-01T18:00:01Z",
    details: {
      node: "gpu-2",
      baseUrl: "http://10.0.0.2:11434",
      proxy: "proxy-a",
      reason: "3 failed health checks: connect ECONNREFUSED",
    },
  });
  assert.deepEqual(json[1], {
    source: "turnout",
    kind: "node_up",
    severity: "info",
    title: "Node gpu-2 is back",
    text: "Node gpu-2 (http://10.0.0.2:11434) is healthy again as seen by proxy proxy-a: 2 passed health checks",
    at: "2026-12-01T18:05:00Z",
    details: { node: "gpu-2", baseUrl: "http://10.0.0.2:11434", proxy: "proxy-a", reason: "2 passed health checks" },
  });
  assert.deepEqual(
    slack.map((m) => m.blocks[0].text.text),
    ["Node gpu-2 is down", "Node gpu-2 is back"],
  );
  assert.match(slack[0].text, /^:red_circle: Node gpu-2 is down: /);
  assert.match(slack[1].text, /^:large_green_circle: Node gpu-2 is back: /);
});

test("a rollback becomes a rollback alert; gate_failed when the webhook asks for it; other rollout kinds are not alerts", async () => {
  const { json, slack } = await deliver(
    [
      [ALERT_SUBJECTS.rollout, rolloutEvent({ kind: "step_started" })],
      [ALERT_SUBJECTS.rollout, rolloutEvent({ kind: "gate_failed" })],
      [ALERT_SUBJECTS.rollout, rolloutEvent({ kind: "rolled_back" })],
    ],
    2,
  );
  const details = {
    route: "qwen3-32b",
    rolloutId: "ro-42",
    fromVariant: "stable",
    toVariant: "canary",
    step: 2,
    canaryPercent: 10,
    reason: "error rate 0.1 > 0.02",
  };
  assert.deepEqual(json, [
    {
      source: "turnout",
      kind: "gate_failed",
      severity: "warning",
      title: "Rollout gate failed on qwen3-32b",
      text: "Route qwen3-32b: a gate failed for canary at 10%: error rate 0.1 > 0.02",
      at: "2026-12-01T18:00:02Z",
      details,
    },
    {
      source: "turnout",
      kind: "rollback",
      severity: "critical",
      title: "Rollout of qwen3-32b rolled back",
      text: "Route qwen3-32b rolled back from canary at 10% to stable: error rate 0.1 > 0.02",
      at: "2026-12-01T18:00:02Z",
      details,
    },
  ]);
  assert.equal(
    slack[1].blocks[1].text.text,
    ":red_circle: Route qwen3-32b rolled back from canary at 10% to stable: error rate 0.1 &gt; 0.02",
  );
  assert.equal(slack[1].blocks[2].fields.length, 7);
});

test("by default a webhook gets rollback, node_down, node_up and proxy_nack but not gate_failed", async () => {
  const receiver = await startReceiver();
  const bus = createMemoryEventBus();
  const alerts = createAlerts({
    bus,
    logger,
    webhooks: [{ url: receiver.url }, { url: `${receiver.url}/nacks-only`, events: ["proxy_nack"] }],
  });
  try {
    bus.publish(ALERT_SUBJECTS.rollout, rolloutEvent({ kind: "gate_failed" }));
    bus.publish(ALERT_SUBJECTS.rollout, rolloutEvent({ kind: "rolled_back" }));
    bus.publish(ALERT_SUBJECTS.proxy, proxyNack({ id: "p", version: 2, appliedVersion: 1, error: "bad" }));
    await receiver.waitFor(3);
    const byPath = (path: string) => receiver.received.filter((r) => r.path === path).map((r) => r.body.kind);
    assert.deepEqual(byPath("/").sort(), ["proxy_nack", "rollback"], "subjects are independent: no order between them");
    assert.deepEqual(byPath("/nacks-only"), ["proxy_nack"]);
  } finally {
    await alerts.close();
    await receiver.close();
  }
});

test("malformed payloads are skipped and counted, and the same NACK reported twice alerts once", async () => {
  const receiver = await startReceiver();
  const bus = createMemoryEventBus();
  const alerts = createAlerts({ bus, logger, webhooks: [{ url: receiver.url }] });
  try {
    const enc = new TextEncoder();
    bus.publish(ALERT_SUBJECTS.node, enc.encode("not json"));
    bus.publish(ALERT_SUBJECTS.node, enc.encode(JSON.stringify({ node: "gpu-1", healthy: "no" })));
    bus.publish(ALERT_SUBJECTS.rollout, enc.encode(JSON.stringify([1, 2])));
    bus.publish(ALERT_SUBJECTS.proxy, enc.encode(JSON.stringify({ state: "APPLY_STATE_NACK" })));
    const nack = proxyNack({ id: "p", version: 2, appliedVersion: 1, error: "bad" });
    bus.publish(ALERT_SUBJECTS.proxy, nack);
    bus.publish(ALERT_SUBJECTS.proxy, nack);
    bus.publish(ALERT_SUBJECTS.proxy, proxyNack({ id: "p", version: 3, appliedVersion: 1, error: "bad" }));
    await receiver.waitFor(2);
    const text = alerts.prometheusText();
    assert.match(text, /turnout_alerts_events_malformed_total\{event="node"\} 2/);
    assert.match(text, /turnout_alerts_events_malformed_total\{event="rollout"\} 1/);
    assert.match(text, /turnout_alerts_events_malformed_total\{event="proxy"\} 1/);
    await alerts.close();
    assert.deepEqual(
      receiver.received.map((r) => r.body.details.version),
      [2, 3],
    );
  } finally {
    await alerts.close();
    await receiver.close();
  }
});
