import { test } from "node:test";
import assert from "node:assert/strict";
import { confidenceSequenceHalfwidth, sequentialRho } from "../../src/stats/confidence-sequence.ts";
import { meanMoments, proportionMoments } from "../../src/stats/ratio-moments.ts";
import { sequentialInterval, type SequentialResult } from "../../src/stats/sequential-interval.ts";
import { welchTest, type WelchResult } from "../../src/stats/welch-test.ts";

// Reference values: GrowthBook gbstats, tests/frequentist/test_tests.py (TestSequentialTTest,
// rounded to 5 decimals there) and tests/test_gbstats.py (TestAnalyzeMetricDfSequential, 9).

function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not ${expected} ± ${tolerance}`);
}

function ok(r: ReturnType<typeof sequentialInterval>): SequentialResult {
  assert.equal(r.status, "ok");
  return r as SequentialResult;
}

const control = meanMoments({ n: 3000, sum: 1396.87, sumSquares: 52377.9767 });
const treatment = meanMoments({ n: 3461, sum: 2422.7, sumSquares: 134698.29 });

test("matches gbstats test_sequential_test_runs (tuning 1000, relative)", () => {
  const r = ok(sequentialInterval(control, treatment, { tuning: 1000 }));
  near(r.relative!.estimate, 0.50336, 5e-6, "estimate");
  near(r.relative!.se, 0.33341, 5e-6, "se");
  near(r.relative!.ci[0], -0.55844, 5e-6, "ci lower");
  near(r.relative!.ci[1], 1.56516, 5e-6, "ci upper");
  assert.equal(r.relative!.pValue, 1);
  assert.equal(r.n, 6461);
});

test("matches gbstats test_sequential_test_runs_prop (proportions, default tuning 5000)", () => {
  const r = ok(
    sequentialInterval(proportionMoments({ n: 3000, successes: 1396 }), proportionMoments({ n: 3461, successes: 2422 })),
  );
  near(r.relative!.estimate, 0.50386, 5e-6, "estimate");
  near(r.relative!.se, 0.03386, 5e-6, "se");
  near(r.relative!.ci[0], 0.40098, 5e-6, "ci lower");
  near(r.relative!.ci[1], 0.60675, 5e-6, "ci upper");
  near(r.relative!.pValue, 0, 5e-6, "p");
});

test("matches gbstats test_analyze_metric_df_sequential (tuning 600) to 9 decimals", () => {
  const r = ok(
    sequentialInterval(
      meanMoments({ n: 100, sum: 270, sumSquares: 848.79 }),
      meanMoments({ n: 120, sum: 300, sumSquares: 869 }),
      { tuning: 600 },
    ),
  );
  near(r.relative!.estimate, -0.074074074, 5e-10, "estimate");
  near(r.relative!.pValue, 0.892332229, 5e-10, "p");
  near(r.relative!.ci[0], -0.233322085, 5e-10, "ci lower");
});

test("the sequential interval is wider than the fixed-horizon one and its p-value larger", () => {
  const seq = ok(sequentialInterval(control, treatment));
  const fixed = welchTest(control, treatment) as WelchResult;
  assert.ok(seq.absolute.ci[0] < fixed.absolute.ci[0] && seq.absolute.ci[1] > fixed.absolute.ci[1]);
  assert.ok(seq.absolute.pValue > fixed.absolute.pValue);
});

test("tuning near the sample size gives the tightest interval (gbstats test_sequential_test_tuning_as_expected)", () => {
  const width = (tuning: number) => {
    const r = ok(sequentialInterval(control, treatment, { tuning }));
    return r.relative!.ci[1] - r.relative!.ci[0];
  };
  assert.ok(width(6461) < width(10000) && width(10000) < width(10));
});

test("the shared half-width: two-sided uses α, one-sided doubles it (gbstats sequential_rho)", () => {
  near(sequentialRho(0.05, 5000, 1), sequentialRho(0.1, 5000, 2), 1e-15, "ρ one-sided at α = ρ two-sided at 2α");
  // one-sided absolute reference of gbstats TestSequentialOneSided{Greater,Lesser}TTest:
  const h = confidenceSequenceHalfwidth(0.12983081254184736, 6461, 0.05, { sides: 1 });
  near(0.23437666666666668 - h, -0.12656844172804982, 1e-10, "greater CI lower");
  near(0.23437666666666668 + h, 0.5953217750613832, 1e-10, "lesser CI upper");
  assert.equal(confidenceSequenceHalfwidth(1, 0, 0.05), Infinity);
});

test("rejects bad alpha and tuning naming the field; too few users are insufficient", () => {
  assert.throws(() => sequentialInterval(control, treatment, { alpha: 0 }), /^RangeError: alpha: /);
  assert.throws(() => sequentialInterval(control, treatment, { tuning: -1 }), /^RangeError: tuning: /);
  assert.equal(sequentialInterval(meanMoments({ n: 1, sum: 1, sumSquares: 1 }), treatment).status, "insufficient");
});
