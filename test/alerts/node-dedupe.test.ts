import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { createAlerts } from "../../src/control/alerts/alerts.ts";
import { ALERT_SUBJECTS, type NodeHealthEvent } from "../../src/control/alerts/alert-decoder.ts";
import { createNodeDedupe } from "../../src/control/alerts/node-dedupe.ts";
import { createMemoryEventBus } from "../../src/transport/memory/event-bus.ts";
import { nodeHealthChanged } from "./event-fixtures.ts";
import { startReceiver } from "./webhook-receiver.ts";

const event = (proxy: string, node: string, healthy: boolean): NodeHealthEvent => ({
  proxy,
  node,
  healthy,
  baseUrl: "",
  reason: "",
  at: "2026-12-01T18:00:00Z",
});

/** A dedupe on mocked timers; `t` is its clock in ms. */
function harness(windowMs = 10_000) {
  mock.timers.enable({ apis: ["setTimeout"] });
  const clock = { t: 0 };
  const emitted: string[] = [];
  const dedupe = createNodeDedupe({
    windowMs,
    now: () => clock.t,
    emit: (e) => emitted.push(`${e.node} ${e.healthy ? "up" : "down"} ${e.proxy}`),
  });
  const advance = (ms: number) => {
    clock.t += ms;
    mock.timers.tick(ms);
  };
  return {
    dedupe,
    emitted,
    advance,
    [Symbol.dispose]: () => {
      dedupe.close();
      mock.timers.reset();
    },
  };
}

test("the same node state change reported by two proxies alerts once", () => {
  using h = harness();
  h.dedupe.observe(event("proxy-a", "gpu-2", false));
  h.advance(500);
  h.dedupe.observe(event("proxy-b", "gpu-2", false));
  h.advance(30_000);
  h.dedupe.observe(event("proxy-b", "gpu-2", true));
  h.advance(400);
  h.dedupe.observe(event("proxy-a", "gpu-2", true));
  h.advance(60_000);
  assert.deepEqual(h.emitted, ["gpu-2 down proxy-a", "gpu-2 up proxy-b"]);
  assert.equal(h.dedupe.suppressed(), 2);
});

test("a slower proxy's view of a change already alerted (down, up, then its own down and up) adds nothing", () => {
  using h = harness();
  h.dedupe.observe(event("proxy-a", "gpu-2", false));
  h.advance(15_000);
  h.dedupe.observe(event("proxy-a", "gpu-2", true)); // past the window: at once
  h.advance(1000);
  h.dedupe.observe(event("proxy-b", "gpu-2", false)); // within the window of the up: held
  h.advance(1000);
  h.dedupe.observe(event("proxy-b", "gpu-2", true));
  h.advance(60_000);
  assert.deepEqual(h.emitted, ["gpu-2 down proxy-a", "gpu-2 up proxy-a"]);
});

test("a node that comes back within the window is alerted up when the window ends; a flap back down collapses", () => {
  using h = harness();
  h.dedupe.observe(event("proxy-a", "gpu-2", false));
  h.advance(2000);
  h.dedupe.observe(event("proxy-a", "gpu-2", true));
  assert.deepEqual(h.emitted, ["gpu-2 down proxy-a"], "held");
  h.advance(8000);
  assert.deepEqual(h.emitted, ["gpu-2 down proxy-a", "gpu-2 up proxy-a"], "alerted when the window ends, with the latest report");

  h.dedupe.observe(event("proxy-a", "gpu-3", false));
  h.advance(1000);
  h.dedupe.observe(event("proxy-a", "gpu-3", true));
  h.advance(1000);
  h.dedupe.observe(event("proxy-a", "gpu-3", false));
  h.advance(20_000);
  assert.deepEqual(h.emitted.slice(2), ["gpu-3 down proxy-a"], "down, up, down within the window: the node is down, as alerted");
});

test("a node first seen healthy is not alerted; first seen down is; each node has its own state", () => {
  using h = harness();
  h.dedupe.observe(event("proxy-a", "gpu-1", true));
  h.dedupe.observe(event("proxy-a", "gpu-2", false));
  h.advance(100);
  h.dedupe.observe(event("proxy-a", "gpu-1", false)); // gpu-1 was never alerted: no window to wait out
  assert.deepEqual(h.emitted, ["gpu-2 down proxy-a", "gpu-1 down proxy-a"]);
});

test("over the bus: two proxies reporting the same node down reach the webhook as one node_down", async () => {
  const receiver = await startReceiver();
  const bus = createMemoryEventBus();
  const alerts = createAlerts({ bus, logger: createLogger({ level: "silent" }), webhooks: [{ url: receiver.url }] });
  try {
    bus.publish(ALERT_SUBJECTS.node, nodeHealthChanged({ proxy: "proxy-a", node: "gpu-2", healthy: false, reason: "timeout" }));
    bus.publish(ALERT_SUBJECTS.node, nodeHealthChanged({ proxy: "proxy-b", node: "gpu-2", healthy: false, reason: "refused" }));
    // A sentinel on the same subject and webhook: delivered in order, so once it is in, the
    // duplicate would have been too.
    bus.publish(ALERT_SUBJECTS.node, nodeHealthChanged({ proxy: "proxy-b", node: "sentinel", healthy: false }));
    await receiver.waitFor(2);
    await alerts.close();
    assert.deepEqual(
      receiver.received.map((r) => [r.body.kind, r.body.details.node, r.body.details.proxy]),
      [
        ["node_down", "gpu-2", "proxy-a"],
        ["node_down", "sentinel", "proxy-b"],
      ],
    );
    assert.match(alerts.prometheusText(), /turnout_alerts_node_events_suppressed_total 1\n/);
  } finally {
    await alerts.close();
    await receiver.close();
  }
});
