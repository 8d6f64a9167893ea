import { test } from "node:test";
import assert from "node:assert/strict";
import { harmIncreaseTest, oneSidedHalfwidth, oneSidedRho, rateDifference } from "../../src/stats/sequential-bound.ts";

const close = (actual: number, expected: number, tol = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} is not ${expected} ± ${tol}`);

// gbstats tests/frequentist/test_tests.py, TestSequentialOneSided{Greater,Lesser}TTest, absolute
// difference, default config (α 0.05, tuning 5000): stat_a SampleMean(sum 1396.87, sum² 52377.9767,
// n 3000), stat_b (2422.7, 134698.29, 3461) → estimate 0.23437666666666668, SE 0.12983081254184736,
// greater CI lower −0.12656844172804982, lesser CI upper 0.5953217750613832.
test("one-sided half-width matches gbstats' sequential one-sided reference values", () => {
  const estimate = 0.23437666666666668;
  const se = 0.12983081254184736;
  const h = oneSidedHalfwidth(se, 3000 + 3461, 0.05);
  close(estimate - h, -0.12656844172804982);
  close(estimate + h, 0.5953217750613832);
});

test("the reference's estimate and standard error come from the sample moments (Welch)", () => {
  const mean = (sum: number, n: number) => sum / n;
  const variance = (sum: number, sumSq: number, n: number) => (sumSq - (sum * sum) / n) / (n - 1);
  const d = mean(2422.7, 3461) - mean(1396.87, 3000);
  const se = Math.sqrt(variance(1396.87, 52377.9767, 3000) / 3000 + variance(2422.7, 134698.29, 3461) / 3461);
  close(d, 0.23437666666666668, 1e-12);
  close(se, 0.12983081254184736, 1e-12);
});

test("ρ doubles α of the two-sided formula", () => {
  // −2 ln 0.1 = 4.605170185988091; ln(5.605170185988091) = 1.7236; ρ = √(6.3288/5000)
  close(oneSidedRho(0.05, 5000), Math.sqrt((4.605170185988091 + Math.log(5.605170185988091)) / 5000), 1e-15);
});

test("rate difference uses unpooled binomial variances", () => {
  const r = rateDifference({ n: 1000, events: 100 }, { n: 1000, events: 50 });
  close(r.difference, 0.05);
  close(r.se, Math.sqrt(0.09 / 1000 + 0.0475 / 1000));
});

test("a canary failing 10% against a clean stable is harmful once both have enough requests", () => {
  const r = harmIncreaseTest({ n: 400, events: 40 }, { n: 1600, events: 0 });
  assert.equal(r.enough, true);
  assert.equal(r.harmful, true);
  assert.ok(r.lowerBound > 0);
});

test("too few requests never conclude harm, however bad they look", () => {
  const r = harmIncreaseTest({ n: 100, events: 50 }, { n: 1000, events: 0 }, { minSamples: 150 });
  assert.equal(r.enough, false);
  assert.equal(r.harmful, false);
});

test("equal error rates are not harmful", () => {
  const r = harmIncreaseTest({ n: 2000, events: 20 }, { n: 8000, events: 80 });
  close(r.difference, 0);
  assert.ok(r.lowerBound < 0);
  assert.equal(r.harmful, false);
});

test("the bound tightens as samples grow: a small real increase is found with enough data", () => {
  const small = harmIncreaseTest({ n: 300, events: 9 }, { n: 3000, events: 30 }); // 3% vs 1%
  const large = harmIncreaseTest({ n: 30000, events: 900 }, { n: 300000, events: 3000 });
  assert.equal(small.harmful, false);
  assert.equal(large.harmful, true);
  assert.ok(large.lowerBound > small.lowerBound);
});
