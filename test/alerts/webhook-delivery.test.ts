import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { createLogger } from "../../src/log.ts";
import { createAlerts } from "../../src/control/alerts/alerts.ts";
import { ALERT_SUBJECTS } from "../../src/control/alerts/alert-decoder.ts";
import { createWebhookNotifier } from "../../src/control/alerts/webhook-notifier.ts";
import type { Alert } from "../../src/control/alerts/alert.ts";
import { createMemoryEventBus } from "../../src/transport/memory/event-bus.ts";
import { proxyNack } from "./event-fixtures.ts";
import { startReceiver } from "./webhook-receiver.ts";
import { until } from "../support/until.ts";

const silent = createLogger({ level: "silent" });
const fast = { baseMs: 10, maxMs: 50 };

function alert(n: number): Alert {
  return { kind: "proxy_nack", title: `NACK ${n}`, text: `NACK ${n}`, at: "2026-12-01T18:00:00Z", details: { version: n } };
}

/** A logger whose JSON lines land in `lines`. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => any[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: "debug" }, stream);
  return {
    logger,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

test("a receiver that answers 500 twice and then 200 gets the alert on the 3rd attempt", async () => {
  const receiver = await startReceiver((n) => ({ status: n < 2 ? 500 : 200 }));
  const notifier = createWebhookNotifier({ url: `${receiver.url}/hook`, logger: silent, backoff: fast });
  try {
    notifier.enqueue(alert(1));
    const got = await receiver.waitFor(3);
    assert.deepEqual(
      got.map((r) => r.body.details.version),
      [1, 1, 1],
      "the same alert, three times",
    );
    await notifier.close();
    const c = notifier.counts();
    assert.deepEqual([c.sent.get("proxy_nack"), c.failed.size, c.dropped.size, c.retries], [1, 0, 0, 2]);
    assert.equal(receiver.received.length, 3, "no 4th attempt after the 200");
  } finally {
    await notifier.close();
    await receiver.close();
  }
});

test("a 429 with Retry-After: 1 is retried no sooner than a second later, although the backoff alone is 10 ms", async () => {
  const receiver = await startReceiver((n) => (n === 0 ? { status: 429, headers: { "retry-after": "1" } } : { status: 200 }));
  const notifier = createWebhookNotifier({ url: receiver.url, logger: silent, backoff: fast });
  try {
    notifier.enqueue(alert(1));
    const [first, second] = await receiver.waitFor(2);
    const waited = second.at - first.at;
    assert.ok(waited >= 950, `second attempt after ${waited.toFixed(0)} ms`);
    assert.ok(waited < 5000, `second attempt after ${waited.toFixed(0)} ms`);
    await notifier.close();
    assert.equal(notifier.counts().sent.get("proxy_nack"), 1);
  } finally {
    await notifier.close();
    await receiver.close();
  }
});

test("gives up after max_attempts with one log line naming the origin, never the secret path; 4xx and refused connections too", async () => {
  const { logger, lines } = capturingLogger();
  const always503 = await startReceiver(() => ({ status: 503 }));
  const gone = await startReceiver(() => ({ status: 404 }));
  // A port nothing listens on: connection refused.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const closedPort = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const secret = "/services/T0001/B0001/xoxSECRETtoken";
  const notifiers = [
    createWebhookNotifier({ url: `${always503.url}${secret}`, format: "slack", maxAttempts: 3, logger, backoff: fast }),
    createWebhookNotifier({ url: `${gone.url}${secret}`, maxAttempts: 5, logger, backoff: fast }),
    createWebhookNotifier({ url: `http://127.0.0.1:${closedPort}${secret}`, maxAttempts: 2, logger, backoff: fast }),
  ];
  try {
    for (const n of notifiers) n.enqueue(alert(1));
    await always503.waitFor(3);
    await gone.waitFor(1);
    await until("every notifier to give up", () => notifiers.every((n) => n.counts().failed.size > 0), {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    assert.deepEqual(
      notifiers.map((n) => n.counts().failed.get("proxy_nack")),
      [1, 1, 1],
    );
    assert.deepEqual(
      notifiers.map((n) => n.counts().retries),
      [2, 0, 1],
      "503 and refused are retried, 404 is not",
    );
    assert.equal(always503.received.length, 3);
    assert.equal(gone.received.length, 1);
    const givenUp = lines().filter((l) => l.msg === "alert not delivered; giving up");
    const byWebhook = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
    assert.deepEqual(
      givenUp.map((l) => [l.webhook, l.attempts, l.error]).sort(byWebhook),
      [
        [always503.url, 3, "HTTP 503"],
        [gone.url, 1, "HTTP 404"],
        [`http://127.0.0.1:${closedPort}`, 2, "ECONNREFUSED"],
      ].sort(byWebhook),
    );
    const everything = lines()
      .map((l) => JSON.stringify(l))
      .join("\n");
    assert.ok(!everything.includes("xoxSECRETtoken") && !everything.includes("/services/"), "the secret path is never logged");
  } finally {
    await Promise.all(notifiers.map((n) => n.close()));
    await always503.close();
    await gone.close();
  }
});

test("an attempt the receiver never answers times out and is retried; the give-up says so", async () => {
  const { logger, lines } = capturingLogger();
  const hanging = await startReceiver(() => "hang");
  const notifier = createWebhookNotifier({ url: hanging.url, timeoutMs: 200, maxAttempts: 2, logger, backoff: fast });
  try {
    const start = performance.now();
    notifier.enqueue(alert(1));
    await hanging.waitFor(2);
    await until("the notifier to give up", () => notifier.counts().failed.size > 0, { timeoutMs: 10_000, intervalMs: 20 });
    const took = performance.now() - start;
    assert.equal(notifier.counts().failed.get("proxy_nack"), 1);
    assert.ok(took >= 400 && took < 8000, `two 200 ms attempts took ${took.toFixed(0)} ms`);
    const [givenUp] = lines().filter((l) => l.msg === "alert not delivered; giving up");
    assert.equal(givenUp.attempts, 2);
    assert.match(givenUp.error, /no answer within 200 ms|UND_ERR_HEADERS_TIMEOUT/);
  } finally {
    await notifier.close();
    await hanging.close();
  }
});

test("a receiver that never answers delays neither the bus nor the other webhook; its full queue drops the oldest and counts them", async (t) => {
  const hanging = await startReceiver(() => "hang");
  const healthy = await startReceiver();
  const bus = createMemoryEventBus();
  const alerts = createAlerts({
    bus,
    logger: silent,
    webhooks: [
      { url: `${hanging.url}/stuck`, timeoutMs: 30_000, queueSize: 50 },
      { url: `${healthy.url}/ok`, timeoutMs: 30_000 },
    ],
  });
  // Another follower of the same subject, as the fleet tracker is.
  const follower = new AbortController();
  let followed = 0;
  const following = (async () => {
    for await (const _ of bus.subscribe(ALERT_SUBJECTS.proxy, follower.signal)) if (++followed === 200) break;
  })();
  try {
    const start = performance.now();
    for (let v = 1; v <= 200; v++)
      bus.publish(ALERT_SUBJECTS.proxy, proxyNack({ id: "p", version: v, appliedVersion: 0, error: "bad" }));
    const published = performance.now() - start;
    await hanging.waitFor(1);
    const got = await healthy.waitFor(200, 10_000);
    const took = performance.now() - start;
    t.diagnostic(`200 alerts to the healthy webhook in ${took.toFixed(0)} ms; publishing took ${published.toFixed(1)} ms`);
    assert.ok(took < 10_000, `the healthy webhook got 200 alerts in ${took.toFixed(0)} ms while the other hangs (30 s timeout)`);
    assert.deepEqual(
      got.map((r) => r.body.details.version),
      Array.from({ length: 200 }, (_, i) => i + 1),
      "all, in order",
    );
    await following;
    assert.equal(followed, 200, "the bus's other subscriber saw every event");
    assert.equal(bus.dropped(), 0);
    assert.ok(published < 1000, `publishing 200 events took ${published.toFixed(0)} ms`);
    const sentAll = new RegExp(`turnout_alerts_sent_total\\{webhook="${healthy.url}",kind="proxy_nack"\\} 200\\n`);
    await until("the 200th answer to be counted", () => sentAll.test(alerts.prometheusText()), { timeoutMs: 5000 }); // it is on its way back
    const text = alerts.prometheusText();
    // 1 in flight to the hanging receiver, 50 queued behind it, the 149 oldest of the rest dropped.
    assert.match(text, new RegExp(`turnout_alerts_dropped_total\\{webhook="${hanging.url}",kind="proxy_nack"\\} 149\\n`));
    assert.match(text, new RegExp(`turnout_alerts_queued\\{webhook="${hanging.url}"\\} 50\\n`));
    assert.match(text, sentAll);
    const closing = performance.now();
    await alerts.close(0);
    assert.ok(performance.now() - closing < 5000, "close does not wait out the hanging receiver");
    assert.match(
      alerts.prometheusText(),
      new RegExp(`turnout_alerts_dropped_total\\{webhook="${hanging.url}",kind="proxy_nack"\\} 200\\n`),
      "what was queued or in flight at shutdown counts as dropped",
    );
  } finally {
    follower.abort();
    await alerts.close(0);
    await hanging.close();
    await healthy.close();
  }
});
