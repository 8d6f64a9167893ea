import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CompiledLimits } from "../../src/proxy/auth/compiled-key.ts";
import { Admission, KeyLimiter, type PeerKeyUse } from "../../src/proxy/auth/key-limiter.ts";
import { formatReset, rateLimitHeaders } from "../../src/proxy/auth/rate-limit-headers.ts";
import { UsageWindow } from "../../src/proxy/auth/usage-window.ts";

const limits = (l: Partial<CompiledLimits>): CompiledLimits => ({
  requestsPerMinute: 0,
  tokensPerMinute: 0,
  maxConcurrent: 0,
  maxTokensPerRequest: 0,
  ...l,
});

/** A limiter on a clock the test moves. */
function limiterAt(start = 1_000_000, windowMs = 60_000) {
  const clock = { t: start };
  return { clock, limiter: new KeyLimiter({ windowMs, now: () => clock.t }) };
}

describe("the usage window", () => {
  it("keeps a count for at least one window and at most one window plus a slot", () => {
    const w = new UsageWindow(60_000);
    w.add(10_500, 1); // slot 10 (one-second slots)
    for (const t of [10_500, 40_000, 70_499, 70_999]) {
      w.advance(t);
      assert.equal(w.total, 1, `still counted at ${t}`);
    }
    w.advance(71_000);
    assert.equal(w.total, 0, "gone at the end of the 60th slot after its own");
  });

  it("says when the oldest count leaves", () => {
    const w = new UsageWindow(60_000);
    w.add(10_500, 2);
    w.add(30_000, 1);
    w.advance(50_000);
    assert.equal(w.msUntilOldestLeaves(50_000), 21_000);
    w.advance(71_000);
    assert.equal(w.total, 1);
    assert.equal(w.msUntilOldestLeaves(71_000), 20_000);
    w.advance(200_000);
    assert.equal(w.msUntilOldestLeaves(200_000), 0);
  });
});

describe("the key limiter, alone", () => {
  it("admits exactly requests_per_minute in a window, then again once the first ones left it", () => {
    const { clock, limiter } = limiterAt();
    const use = limiter.useOf("k");
    const l = limits({ requestsPerMinute: 5 });
    for (let i = 0; i < 5; i++) {
      assert.equal(limiter.admit(use, l), Admission.Admitted);
      use.finish(0);
      clock.t += 1000;
    }
    assert.equal(limiter.admit(use, l), Admission.Requests);
    const retry = limiter.retryAfterMs(use, Admission.Requests);
    assert.ok(retry > 55_000 && retry <= 56_000, `retry after ${retry} ms`);
    clock.t += retry;
    assert.equal(limiter.admit(use, l), Admission.Admitted);
    assert.equal(limiter.admit(use, l), Admission.Requests);
  });

  it("refuses past tokens_per_minute once ended requests used the tokens", () => {
    const { limiter } = limiterAt();
    const use = limiter.useOf("k");
    const l = limits({ tokensPerMinute: 100 });
    assert.equal(limiter.admit(use, l), Admission.Admitted);
    assert.equal(limiter.admit(use, l), Admission.Admitted, "in flight: its tokens are not known yet");
    use.finish(60);
    use.finish(50);
    assert.equal(limiter.admit(use, l), Admission.Tokens);
  });

  it("holds max_concurrent and frees a slot when a request ends", () => {
    const { limiter } = limiterAt();
    const use = limiter.useOf("k");
    const l = limits({ maxConcurrent: 2 });
    assert.equal(limiter.admit(use, l), Admission.Admitted);
    assert.equal(limiter.admit(use, l), Admission.Admitted);
    assert.equal(limiter.admit(use, l), Admission.Concurrency);
    use.finish(0);
    assert.equal(limiter.admit(use, l), Admission.Admitted);
  });

  it("does not count a refused request", () => {
    const { limiter } = limiterAt();
    const use = limiter.useOf("k");
    const l = limits({ requestsPerMinute: 10, maxConcurrent: 1 });
    assert.equal(limiter.admit(use, l), Admission.Admitted);
    for (let i = 0; i < 20; i++) assert.equal(limiter.admit(use, l), Admission.Concurrency);
    assert.equal(use.requests.total, 1);
  });
});

describe("the key limiter with peers", () => {
  const report = (id: string, requests: number, lease = 0): PeerKeyUse => ({ id, requests, lease, tokens: 0, inFlight: 0 });

  it("adds the peers' reported use to its own", () => {
    const { clock, limiter } = limiterAt();
    const l = limits({ requestsPerMinute: 10 });
    let admitted = 0;
    for (let report_ = 0; report_ < 20; report_++) {
      limiter.applyPeerReport("p2", [report("k", 8)], 3000);
      for (let i = 0; i < 10; i++) if (limiter.admit(limiter.useOf("k"), l) === Admission.Admitted) admitted++;
      limiter.tick(50);
      clock.t += 50;
    }
    assert.equal(admitted, 2);
    assert.equal(limiter.admit(limiter.useOf("k"), l), Admission.Requests);
  });

  it("starts no more than its lease between two reports, and a new report grants the next", () => {
    const { clock, limiter } = limiterAt();
    const use = limiter.useOf("k");
    limiter.applyPeerReport("p2", [], 3000); // a live peer that does not use the key
    const l = limits({ requestsPerMinute: 90 });
    let admitted = 0;
    while (limiter.admit(use, l) === Admission.Admitted) admitted++;
    // A share of 90 between this proxy, the peer and the peer's possible use of it: 90 / 3.
    assert.equal(admitted, 30);
    assert.equal(limiter.admit(use, l), Admission.Lease);
    const keys = limiter.tick(50);
    assert.deepEqual(keys, [{ id: "k", requests: 30, lease: 20, tokens: 0, inFlight: 30 }]);
    clock.t += 10;
    assert.equal(limiter.retryAfterMs(use, Admission.Lease), 41, "just after the next tick");
  });

  it("enforces alone once the peers' reports expired (NATS down)", () => {
    const { clock, limiter } = limiterAt();
    const use = limiter.useOf("k");
    limiter.applyPeerReport("p2", [report("k", 10)], 3000);
    const l = limits({ requestsPerMinute: 10 });
    assert.equal(limiter.admit(use, l), Admission.Requests);
    clock.t += 3000;
    limiter.tick(50);
    assert.equal(limiter.livePeers(), 0);
    let admitted = 0;
    while (limiter.admit(use, l) === Admission.Admitted) admitted++;
    assert.equal(admitted, 10);
  });

  it("drops a peer's use when it reports the key no more", () => {
    const { limiter } = limiterAt();
    const use = limiter.useOf("k");
    limiter.applyPeerReport("p2", [report("k", 10, 3)], 3000);
    assert.equal(use.othersRequests + use.othersLease, 13);
    limiter.applyPeerReport("p2", [], 3000);
    assert.equal(use.othersRequests + use.othersLease + use.reportingPeers, 0);
    limiter.forgetPeer("p2");
    assert.equal(limiter.livePeers(), 0);
  });

  it("holds a fleet of three near its limit however fast requests come, and gives one busy proxy the whole limit", () => {
    for (const [share, rate] of [
      [[1 / 3, 1 / 3, 1 / 3], 50],
      [[1 / 3, 1 / 3, 1 / 3], 5],
      [[0.6, 0.3, 0.1], 50],
      [[1, 0, 0], 50],
    ] as const) {
      const admitted = simulateFleet({ limit: 600, share, requestsPerMs: rate, ms: 5000 });
      const total = admitted.reduce((a, b) => a + b, 0);
      assert.ok(total >= 600 && total <= 660, `shares ${share}, ${rate}/ms: ${total} admitted (${admitted})`);
    }
  });
});

/**
 * Three limiters on one clock, each getting `share` of `requestsPerMs` requests every ms, ticking
 * every 50 ms at different phases, their reports reaching the others 1 ms later (as over NATS).
 */
function simulateFleet(o: { limit: number; share: readonly number[]; requestsPerMs: number; ms: number }): number[] {
  const clock = { t: 1_000_000 };
  const fleet = o.share.map(() => new KeyLimiter({ now: () => clock.t }));
  const l = limits({ requestsPerMinute: o.limit });
  const admitted = fleet.map(() => 0);
  const owed = fleet.map(() => 0);
  const inbox: { at: number; to: number; from: number; keys: PeerKeyUse[] }[] = [];
  // Everyone knows everyone (heartbeats) before traffic starts.
  for (let i = 0; i < fleet.length; i++)
    for (let j = 0; j < fleet.length; j++) if (i !== j) fleet[i].applyPeerReport(`p${j}`, [], 3000);
  for (let ms = 0; ms < o.ms; ms++, clock.t++) {
    while (inbox.length > 0 && inbox[0].at <= ms) {
      const m = inbox.shift() as (typeof inbox)[number];
      fleet[m.to].applyPeerReport(`p${m.from}`, m.keys, 3000);
    }
    for (let i = 0; i < fleet.length; i++) {
      if ((ms + i * 17) % 50 === 0) {
        const keys = fleet[i].tick(50);
        for (let j = 0; j < fleet.length; j++) if (j !== i) inbox.push({ at: ms + 1, to: j, from: i, keys });
      }
      owed[i] += o.requestsPerMs * o.share[i];
      for (; owed[i] >= 1; owed[i]--) {
        // Looked up per request, as the proxy does (an idle key's counters may have been dropped).
        const use = fleet[i].useOf("k");
        if (fleet[i].admit(use, l) !== Admission.Admitted) continue;
        use.finish(0);
        admitted[i]++;
      }
    }
  }
  return admitted;
}

describe("the rate-limit headers", () => {
  it("write durations as OpenAI does", () => {
    assert.equal(formatReset(20), "20ms");
    assert.equal(formatReset(998.2), "999ms");
    assert.equal(formatReset(999.2), "1s");
    assert.equal(formatReset(1500), "1.5s");
    assert.equal(formatReset(59_000), "59s");
    assert.equal(formatReset(360_000), "6m0s");
    assert.equal(formatReset(61_250), "1m1.25s");
  });

  it("say the limit, what is left fleet-wide and when the oldest request leaves, for each limit set", () => {
    const { clock, limiter } = limiterAt(1_000_000);
    const use = limiter.useOf("k");
    const l = limits({ requestsPerMinute: 10, tokensPerMinute: 1000 });
    limiter.admit(use, l);
    use.finish(120);
    limiter.applyPeerReport("p2", [{ id: "k", requests: 3, lease: 0, tokens: 80, inFlight: 0 }], 3000);
    clock.t += 15_000;
    assert.deepEqual(rateLimitHeaders(limiter, use, l), {
      "x-ratelimit-limit-requests": 10,
      "x-ratelimit-remaining-requests": 6,
      "x-ratelimit-reset-requests": "46s",
      "x-ratelimit-limit-tokens": 1000,
      "x-ratelimit-remaining-tokens": 800,
      "x-ratelimit-reset-tokens": "46s",
    });
    assert.deepEqual(Object.keys(rateLimitHeaders(limiter, use, limits({ requestsPerMinute: 10 })) ?? {}), [
      "x-ratelimit-limit-requests",
      "x-ratelimit-remaining-requests",
      "x-ratelimit-reset-requests",
    ]);
    assert.equal(rateLimitHeaders(limiter, use, limits({ maxConcurrent: 3 })), null);
  });
});
