import assert from "node:assert/strict";
import { test } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { createLogger } from "../../src/log.ts";
import { createFeedbackReplays } from "../../src/proxy/feedback/feedback-replays.ts";
import { createMemoryEventBus } from "../../src/transport/memory/event-bus.ts";
import type { EventBus } from "../../src/transport/types.ts";
import { until } from "../support/until.ts";

const logger = createLogger({ level: "silent" });

/** The in-process bus, with a switch that drops every publish (a NATS outage as the publisher sees it). */
function flakyBus(): EventBus & { down: boolean } {
  const bus = createMemoryEventBus();
  return {
    down: false,
    publish(subject, data) {
      if (!this.down) bus.publish(subject, data);
    },
    subscribe: (subject, signal) => bus.subscribe(subject, signal),
  };
}

test("a key accepted on one proxy reaches the others' windows, and a proxy ignores its own keys coming back", async () => {
  const bus = createMemoryEventBus();
  const a = createFeedbackReplays({ id: "a", logger, bus });
  const b = createFeedbackReplays({ id: "b", logger, bus });
  const c = createFeedbackReplays({ id: "c", logger, bus });
  try {
    a.accepted(101, 1000);
    a.accepted(102, 1001);
    b.accepted(201, 1002);
    await until("every key on every proxy", () => [a, b, c].every((r) => [101, 102, 201].every((k) => r.window.has(k))));
    assert.deepEqual([a.heardTotal(), b.heardTotal(), c.heardTotal()], [1, 2, 3]);
    assert.deepEqual([a.window.size, b.window.size, c.window.size], [3, 3, 3]);
  } finally {
    for (const r of [a, b, c]) r.close();
  }
});

test("keys published while the bus drops them are sent again until they come back, and the others get them when it delivers again", async () => {
  const bus = flakyBus();
  const a = createFeedbackReplays({ id: "a", logger, bus, resendMs: 20 });
  const b = createFeedbackReplays({ id: "b", logger, bus, resendMs: 20 });
  try {
    bus.down = true;
    a.accepted(7, 1000);
    await nextTurn();
    a.accepted(8, 1000);
    await nextTurn();
    assert.equal(b.window.has(7), false);
    bus.down = false;
    await until("both keys at b after the outage", () => b.window.has(7) && b.window.has(8));
    assert.equal(a.givenUpTotal(), 0);
  } finally {
    a.close();
    b.close();
  }
});

test("at most maxPendingKeys keys wait for the bus: older batches are given up and counted", async () => {
  const bus = flakyBus();
  bus.down = true;
  const a = createFeedbackReplays({ id: "a", logger, bus, resendMs: 20, maxPendingKeys: 2 });
  const b = createFeedbackReplays({ id: "b", logger, bus, resendMs: 20 });
  try {
    for (const key of [1, 2, 3]) {
      a.accepted(key, 1000);
      await nextTurn();
    }
    assert.equal(a.givenUpTotal(), 1);
    assert.deepEqual(
      [a.window.has(1), a.window.has(2), a.window.has(3)],
      [true, true, true],
      "the proxy itself still refuses all three",
    );
    bus.down = false;
    await until("the kept batches at b", () => b.window.has(2) && b.window.has(3));
    assert.equal(b.window.has(1), false, "the given-up key never reached b");
  } finally {
    a.close();
    b.close();
  }
});
