import { test } from "node:test";
import assert from "node:assert/strict";
import { formatPercent, formatPValue, formatUsers, metricVerdict, VerdictMetrics } from "../../src/stats/metric-verdict.ts";
import { meanMoments, proportionMoments, ratioMoments } from "../../src/stats/ratio-moments.ts";
import { usersNeeded } from "../../src/stats/sample-size.ts";
import { sequentialInterval } from "../../src/stats/sequential-interval.ts";
import { welchTest, type WelchResult } from "../../src/stats/welch-test.ts";

/** A hand-made result: relative lift `lift` with p-value `p`. */
function result(lift: number, p: number): WelchResult {
  const effect = { estimate: lift, se: 0.01, ci: [lift - 0.02, lift + 0.02] as [number, number], pValue: p };
  return { status: "ok", df: 100, absolute: { ...effect }, relative: effect };
}

test("a significant drop in time to first token reads as faster: 'B is 12% faster to first token (p=0.003)'", () => {
  const v = metricVerdict({ arm: "B", metric: VerdictMetrics.timeToFirstToken, test: result(-0.12, 0.003) });
  assert.deepEqual(v, { outcome: "better", text: "B is 12% faster to first token (p=0.003)" });
});

test("direction decides better or worse: more latency and more errors are worse, more thumbs-up better", () => {
  assert.deepEqual(metricVerdict({ arm: "B", metric: VerdictMetrics.latency, test: result(0.34, 0.0004) }), {
    outcome: "worse",
    text: "B is 34% slower end to end (p<0.001)",
  });
  assert.deepEqual(metricVerdict({ arm: "canary", metric: VerdictMetrics.errorRate, test: result(0.5, 0.02) }), {
    outcome: "worse",
    text: "canary has a 50% higher error rate (p=0.02)",
  });
  assert.deepEqual(metricVerdict({ arm: "B", metric: VerdictMetrics.thumbsUp, test: result(0.034, 0.041) }), {
    outcome: "better",
    text: "B gets 3.4% more thumbs-up (p=0.041)",
  });
  assert.deepEqual(metricVerdict({ arm: "B", metric: VerdictMetrics.tokensPerSecond, test: result(-0.08, 0.01) }), {
    outcome: "worse",
    text: "B generates 8% fewer tokens/s (p=0.01)",
  });
  assert.deepEqual(
    metricVerdict({ arm: "B", metric: { name: "task completion", direction: "higher" }, test: result(0.2, 0.001) }),
    { outcome: "better", text: "B is 20% higher on task completion (p=0.001)" },
  );
});

test("no significant difference says how many more users are needed", () => {
  const control = proportionMoments({ n: 400, successes: 200 });
  const treatment = proportionMoments({ n: 400, successes: 210 });
  const t = welchTest(control, treatment);
  const needed = usersNeeded(control, treatment, { relativeEffect: 0.05 });
  // per-user variance of the lift: 0.249375/0.5² + 0.25·0.525²/0.5⁴ = 2.1;
  // (1.959964 + 0.841621)² · 2.1 / 0.05² = 6,593.1 → 6,594 per arm, 2·6,594 − 800 = 12,388 more
  assert.equal(needed.perArm, 6594);
  assert.equal(needed.remaining, 12388);
  const v = metricVerdict({ arm: "B", metric: VerdictMetrics.thumbsUp, test: t, needed });
  assert.deepEqual(v, { outcome: "no-difference", text: "no difference in thumbs-up yet: need about 13,000 more users" });
});

test("no difference with enough users, or without a sample size, still gives the p-value", () => {
  const enough = { perArm: 100, remaining: 0, effect: 0.05, scale: "relative" as const };
  assert.equal(
    metricVerdict({ arm: "B", metric: VerdictMetrics.errorRate, test: result(0.01, 0.62), needed: enough }).text,
    "no difference in error rate (p=0.62)",
  );
  assert.equal(
    metricVerdict({ arm: "B", metric: VerdictMetrics.errorRate, test: result(0.01, 0.62) }).text,
    "no difference in error rate yet (p=0.62)",
  );
});

test("too little data is said so; a zero control mean falls back to the absolute difference", () => {
  const none = welchTest(meanMoments({ n: 1, sum: 1, sumSquares: 1 }), meanMoments({ n: 1, sum: 1, sumSquares: 1 }));
  assert.deepEqual(metricVerdict({ arm: "B", metric: VerdictMetrics.latency, test: none }), {
    outcome: "insufficient",
    text: "not enough data on latency yet",
  });
  const errors = welchTest(
    ratioMoments({ n: 500, numerator: 0, numeratorSquares: 0, denominator: 2000, denominatorSquares: 10000, products: 0 }),
    proportionMoments({ n: 500, successes: 40 }),
  );
  assert.equal(
    metricVerdict({ arm: "B", metric: VerdictMetrics.errorRate, test: errors }).text,
    "B is worse on error rate (+0.08, p<0.001)",
  );
});

test("sequential results are phrased the same way", () => {
  const s = sequentialInterval(proportionMoments({ n: 3000, successes: 1396 }), proportionMoments({ n: 3461, successes: 2422 }));
  assert.equal(
    metricVerdict({ arm: "B", metric: VerdictMetrics.successRate, test: s }).text,
    "B has a 50% higher success rate (p<0.001)",
  );
});

test("numbers are formatted for people", () => {
  assert.equal(formatPercent(-0.1234), "12%");
  assert.equal(formatPercent(0.0344), "3.4%");
  assert.equal(formatPercent(0.01), "1%");
  assert.equal(formatPercent(0.00052), "0.052%");
  assert.equal(formatPValue(0.0496), "p=0.049");
  assert.equal(formatPValue(0.003), "p=0.003");
  assert.equal(formatPValue(0.41234), "p=0.41");
  assert.equal(formatPValue(1), "p=1");
  assert.equal(formatPValue(0.00099), "p<0.001");
  assert.equal(formatUsers(87), "87");
  assert.equal(formatUsers(4763), "4,800");
  assert.equal(formatUsers(123456), "130,000");
});
