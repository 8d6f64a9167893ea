import assert from "node:assert/strict";
import { test } from "node:test";
import { createOutcomeAggregator, type OutcomeRecord } from "../../src/control/metrics/outcome-aggregator.ts";

const T0 = 1_800_000_000_000; // a whole second, epoch ms

function record(i: number, overrides: Partial<OutcomeRecord> = {}): OutcomeRecord {
  return {
    requestId: `r${i}`,
    proxy: "p1",
    route: "chat",
    variant: "stable",
    status: "ok",
    httpStatus: 200,
    latencyMs: 100 + i,
    ttftMs: 10 + i,
    completionTokens: 5,
    tokensPerSecond: 50,
    finishedAtMs: T0 + i,
    ...overrides,
  };
}

test("counts every record once per series, with errors by outcome class", () => {
  const agg = createOutcomeAggregator();
  for (let i = 0; i < 100; i++) agg.apply(record(i), T0 + 500);
  for (let i = 100; i < 110; i++) agg.apply(record(i, { status: "upstream_status", httpStatus: 500, ttftMs: -1 }), T0 + 500);
  for (let i = 110; i < 113; i++) agg.apply(record(i, { status: "unavailable", httpStatus: 503, ttftMs: -1 }), T0 + 500);
  for (let i = 113; i < 133; i++) agg.apply(record(i, { variant: "small", tokensPerSecond: 0 }), T0 + 500);
  const w = agg.window(60, T0 + 900);
  assert.equal(w.outcomesTotal, 133);
  assert.deepEqual(
    w.series.map((s) => [s.route, s.variant, s.requests]),
    [
      ["chat", "small", 20],
      ["chat", "stable", 113],
    ],
  );
  const stable = w.series[1];
  assert.deepEqual(stable.errors, { upstream_status: 10, unavailable: 3 });
  assert.equal(stable.latencyMs.count, 113);
  assert.equal(stable.ttftMs.count, 100);
  assert.equal(stable.completionTokens, 113 * 5);
  assert.equal(stable.tokensPerSecond, 50);
  assert.equal(w.series[0].tokensPerSecond, 0);
  assert.ok(Math.abs(stable.requestsPerSecond - 113 / 60) < 1e-9);
});

test("latency percentiles match the exact values within 1%", () => {
  const agg = createOutcomeAggregator();
  const latencies: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const latency = 200 + ((i * 7919) % 1000) * 3; // 200..3197, shuffled
    latencies.push(latency);
    agg.apply(record(i, { latencyMs: latency, finishedAtMs: T0 + (i % 30) * 1000 }), T0 + 30_000);
  }
  latencies.sort((a, b) => a - b);
  const s = agg.window(60, T0 + 30_000).series[0];
  for (const [q, got] of [
    [0.5, s.latencyMs.p50],
    [0.95, s.latencyMs.p95],
    [0.99, s.latencyMs.p99],
  ] as const) {
    const want = latencies[Math.ceil(q * latencies.length) - 1];
    assert.ok(Math.abs(got - want) / want <= 0.01, `p${q * 100}: got ${got}, exact ${want}`);
  }
  assert.ok(Math.abs(s.latencyMs.mean - latencies.reduce((a, b) => a + b, 0) / 1000) < 1e-6);
});

test("windows reach back window_seconds from now, per second", () => {
  const agg = createOutcomeAggregator();
  // One request ending in each of the last 120 seconds.
  for (let i = 0; i < 120; i++) agg.apply(record(i, { finishedAtMs: T0 + i * 1000 + 1 }), T0 + 120_000);
  const now = T0 + 119_500;
  assert.equal(agg.window(10, now).series[0].requests, 10);
  assert.equal(agg.window(60, now).series[0].requests, 60);
  assert.equal(agg.window(3600, now).series[0].requests, 120);
  const w = agg.window(10, now);
  assert.equal(w.startMs, T0 + 110_000);
  assert.equal(w.endMs, now);
  // An hour later nothing is left in any window, but the total stays.
  const later = agg.window(3600, T0 + 120_000 + 3600_000);
  assert.deepEqual(later.series, []);
  assert.equal(later.outcomesTotal, 120);
});

test("drops a redelivered record (same proxy, request id and finish time) but counts a reused request id", () => {
  const agg = createOutcomeAggregator();
  assert.equal(agg.apply(record(1), T0), true);
  assert.equal(agg.apply(record(1), T0 + 10_000), false);
  assert.equal(agg.apply(record(1, { finishedAtMs: T0 + 5000.25 }), T0 + 10_000), true);
  assert.equal(agg.apply(record(1, { proxy: "p2" }), T0 + 10_000), true);
  assert.equal(agg.outcomesTotal(), 3);
  assert.equal(agg.duplicatesTotal(), 1);
  assert.equal(agg.window(60, T0 + 10_000).series[0].requests, 3);
});

test("filters by route and sorts series by route then variant", () => {
  const agg = createOutcomeAggregator();
  let i = 0;
  for (const [route, variant] of [
    ["b", "y"],
    ["a", "z"],
    ["b", "x"],
    ["a", "a"],
  ])
    agg.apply(record(i++, { route, variant }), T0 + 100);
  const all = agg.window(60, T0 + 100);
  assert.deepEqual(
    all.series.map((s) => `${s.route}/${s.variant}`),
    ["a/a", "a/z", "b/x", "b/y"],
  );
  assert.deepEqual(
    agg.window(60, T0 + 100, "b").series.map((s) => s.variant),
    ["x", "y"],
  );
  assert.deepEqual(agg.window(60, T0 + 100, "").series.length, 4);
});

test("a record from a proxy clock ahead of ours counts in the current second; one older than the horizon only in totals", () => {
  const agg = createOutcomeAggregator({ horizonSeconds: 60 });
  agg.apply(record(1, { finishedAtMs: T0 + 3_600_000 }), T0);
  agg.apply(record(2, { finishedAtMs: T0 - 120_000 }), T0);
  const w = agg.window(60, T0);
  assert.equal(w.series[0].requests, 1);
  assert.equal(w.outcomesTotal, 2);
  assert.equal(agg.totals()[0].byStatus.get("ok"), 2);
});

test("late records land in their own second, also after it was sealed", () => {
  const agg = createOutcomeAggregator();
  agg.apply(record(1, { finishedAtMs: T0 + 1000 }), T0 + 1500);
  agg.apply(record(2, { finishedAtMs: T0 + 9000 }), T0 + 9500); // seals second T0+1
  agg.apply(record(3, { finishedAtMs: T0 + 1200, latencyMs: 5000 }), T0 + 9600);
  assert.equal(agg.window(2, T0 + 9600).series[0].requests, 1);
  const w = agg.window(10, T0 + 9600).series[0];
  assert.equal(w.requests, 3);
  assert.equal(w.latencyMs.p99, 5000);
});
