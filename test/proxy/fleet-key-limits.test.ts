import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { driveEvenly, startLimitsFleet, type LimitsFleet } from "../../bench/limits-fleet.ts";
import { until } from "../support/until.ts";

/** Requests per window of each key; the window is 2 s instead of a minute, the same code path otherwise. */
const LIMIT = 60;
const WINDOW_MS = 2000;

describe("a key's requests-per-minute limit over 3 proxies on a real nats-server", () => {
  let fleet: LimitsFleet;

  before(async () => {
    // Heartbeats every 250 ms: a proxy cut off by NATS is dropped by the others within 750 ms.
    fleet = await startLimitsFleet({ proxies: 3, limit: LIMIT, keys: 3, windowMs: WINDOW_MS, refreshMs: 250 });
  });
  after(() => fleet?.close());

  it("holds one limit for the fleet, not one per proxy, with traffic spread evenly", async () => {
    const r = await driveEvenly({ urls: fleet.urls, token: fleet.tokens[0], durationMs: WINDOW_MS, concurrency: 12 });
    const allowed = r.allowed.reduce((a, b) => a + b, 0);
    assert.equal(r.other, 0);
    assert.ok(r.refused > 0, "the load went past the limit");
    assert.ok(allowed >= LIMIT && allowed <= LIMIT * 1.1, `${allowed} allowed in the window (${r.allowed.join(" + ")})`);
    assert.ok(
      r.allowed.every((n) => n > 0),
      "every proxy admitted some",
    );
  });

  it("gives a burst on one proxy the whole limit: requests over its lease wait for the next one", async () => {
    const r = await driveEvenly({ urls: [fleet.urls[0]], token: fleet.tokens[2], requests: LIMIT, concurrency: LIMIT });
    assert.deepEqual(r, { allowed: [LIMIT], refused: 0, other: 0 });
    const over = await driveEvenly({ urls: [fleet.urls[1]], token: fleet.tokens[2], requests: 1, concurrency: 1 });
    assert.deepEqual(over, { allowed: [0], refused: 1, other: 0 }, "and not one more, on any proxy");
  });

  it("lets each proxy enforce the limit alone when NATS is down", async () => {
    await fleet.nats.kill();
    await until("every proxy to drop its peers", () => fleet.proxies.every((p) => p.keyLimiter.livePeers() === 0));
    for (const url of fleet.urls) {
      const r = await driveEvenly({ urls: [url], token: fleet.tokens[1], durationMs: 500, concurrency: 4 });
      assert.equal(r.other, 0);
      assert.deepEqual(r.allowed, [LIMIT], `${url} alone admits exactly the limit`);
      assert.ok(r.refused > 0);
    }
  });
});
