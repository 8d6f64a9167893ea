import { test } from "node:test";
import assert from "node:assert/strict";
import { meanMoments, mergeRatioSums, proportionMoments, ratioMoments, ratioSums } from "../../src/stats/ratio-moments.ts";
import { effectMoments, welchTest, type WelchResult } from "../../src/stats/welch-test.ts";

// Reference values: GrowthBook gbstats (packages/stats), tests/frequentist/test_tests.py and
// tests/test_gbstats.py. gbstats compares results rounded to 5 (test_tests) or 9 (test_gbstats)
// decimals; where it quotes full doubles we hold ourselves to 1e-10.

function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not ${expected} ± ${tolerance}`);
}

function ok(r: ReturnType<typeof welchTest>): WelchResult {
  assert.equal(r.status, "ok");
  return r as WelchResult;
}

const control3407 = meanMoments({ n: 3407, sum: 1396.87, sumSquares: 52377.9767 });
const control3000 = meanMoments({ n: 3000, sum: 1396.87, sumSquares: 52377.9767 });
const treatment3461 = meanMoments({ n: 3461, sum: 2422.7, sumSquares: 134698.29 });

test("two-sided Welch test matches gbstats TestTwoSidedTTest (relative and absolute)", () => {
  const r = ok(welchTest(control3407, treatment3461));
  const rel = r.relative!;
  near(rel.estimate, 0.70732, 5e-6, "relative estimate");
  near(rel.se, 0.37879, 5e-6, "relative se");
  near(rel.ci[0], -0.03526, 5e-6, "relative ci lower");
  near(rel.ci[1], 1.44989, 5e-6, "relative ci upper");
  near(rel.pValue, 0.06191, 5e-6, "relative p");
  near(r.absolute.estimate, 0.29, 1e-12, "absolute estimate");
  near(r.absolute.se, 0.12478, 5e-6, "absolute se");
  near(r.absolute.ci[0], 0.04538, 5e-6, "absolute ci lower");
  near(r.absolute.ci[1], 0.53462, 5e-6, "absolute ci upper");
  near(r.absolute.pValue, 0.02016, 5e-6, "absolute p");
});

test("two-sided Welch test on proportions matches gbstats test_two_sided_ttest_binom", () => {
  const r = ok(welchTest(proportionMoments({ n: 28, successes: 14 }), proportionMoments({ n: 30, successes: 16 })));
  const rel = r.relative!;
  near(rel.estimate, 0.06667, 5e-6, "estimate");
  near(rel.se, 0.2717, 5e-6, "se");
  near(rel.ci[0], -0.47767, 5e-6, "ci lower");
  near(rel.ci[1], 0.61101, 5e-6, "ci upper");
  near(rel.pValue, 0.80707, 5e-6, "p");
});

test("one-sided Welch tests match gbstats' full-precision values to 1e-10", () => {
  const greater = ok(welchTest(control3000, treatment3461, { alternative: "greater" }));
  near(greater.relative!.estimate, 0.5033610858562358, 1e-12, "relative estimate");
  near(greater.relative!.se, 0.3334122146400735, 1e-12, "relative se");
  near(greater.relative!.ci[0], -0.045136675850396046, 1e-10, "relative greater ci lower");
  assert.equal(greater.relative!.ci[1], Infinity);
  near(greater.relative!.pValue, 0.06558262868467746, 1e-10, "relative greater p");
  near(greater.absolute.estimate, 0.23437666666666668, 1e-12, "absolute estimate");
  near(greater.absolute.se, 0.12983081254184736, 1e-12, "absolute se");
  near(greater.absolute.ci[0], 0.020791480063255735, 1e-10, "absolute greater ci lower");
  near(greater.absolute.pValue, 0.03554272489873023, 1e-10, "absolute greater p");

  const less = ok(welchTest(control3000, treatment3461, { alternative: "less" }));
  assert.equal(less.relative!.ci[0], -Infinity);
  near(less.relative!.ci[1], 1.0518588475628676, 1e-10, "relative less ci upper");
  near(less.relative!.pValue, 0.9344173713153225, 1e-10, "relative less p");
  near(less.absolute.ci[1], 0.44796185327007765, 1e-10, "absolute less ci upper");
  near(less.absolute.pValue, 0.9644572751012698, 1e-10, "absolute less p");
});

test("a count metric matches gbstats test_gbstats frequentist dimension 'one' to 9 decimals", () => {
  const r = ok(
    welchTest(meanMoments({ n: 100, sum: 270, sumSquares: 848.79 }), meanMoments({ n: 120, sum: 300, sumSquares: 869 })),
  );
  near(r.relative!.estimate, -0.074074074, 5e-10, "estimate");
  near(r.relative!.pValue, 0.145219005, 5e-10, "p");
});

test("a ratio metric with delta-method variance matches gbstats test_get_metric_dfs_frequentist_ratio", () => {
  // RATIO_STATISTICS_DF: per-arm sums of numerator, denominator, their squares and products.
  const control = ratioMoments({
    n: 100,
    numerator: 270,
    numeratorSquares: 848.79,
    denominator: 510,
    denominatorSquares: 810,
    products: -900,
  });
  const treatment = ratioMoments({
    n: 120,
    numerator: 300,
    numeratorSquares: 869,
    denominator: 500,
    denominatorSquares: 800,
    products: -905,
  });
  near(control.mean, 0.529411765, 5e-10, "control ratio");
  near(treatment.mean, 0.6, 1e-15, "treatment ratio");
  const r = ok(welchTest(control, treatment));
  near(r.relative!.estimate, 0.133333333, 5e-10, "estimate");
  near(r.relative!.pValue, 0.610663339, 5e-10, "p");
});

test("ratio sums accumulate per-user totals and merge like one pass over all users", () => {
  const users = [
    { numerator: 1, denominator: 10 },
    { numerator: 0, denominator: 3 },
    { numerator: 4, denominator: 20 },
    { numerator: 2, denominator: 7 },
  ];
  const whole = ratioSums(users);
  assert.deepEqual(mergeRatioSums(ratioSums(users.slice(0, 1)), ratioSums(users.slice(1))), whole);
  assert.deepEqual(whole, { n: 4, numerator: 7, numeratorSquares: 21, denominator: 40, denominatorSquares: 558, products: 104 });
  const m = ratioMoments(whole);
  near(m.mean, 7 / 40, 1e-15, "ratio of sums (request-weighted rate)");
  // Delta method by hand: μM 1.75, μD 10, Var M 2.91667, Var D 52.6667, Cov 11.3333, all with n − 1.
  const varM = (21 - 49 / 4) / 3;
  const varD = (558 - 1600 / 4) / 3;
  const cov = (104 - 280 / 4) / 3;
  near(m.variance, varM / 100 - (2 * cov * 1.75) / 1000 + (varD * 1.75 ** 2) / 10000, 1e-15, "delta-method variance");
});

test("too few users or no variance is reported as insufficient, not as p = 1", () => {
  const one = meanMoments({ n: 1, sum: 3, sumSquares: 9 });
  const flat = meanMoments({ n: 50, sum: 50, sumSquares: 50 });
  assert.equal(welchTest(one, treatment3461).status, "insufficient");
  assert.equal(welchTest(flat, flat).status, "insufficient");
  assert.equal(Object.hasOwn(effectMoments(flat, flat), "status"), true);
});

test("the relative lift is absent when the control mean is 0", () => {
  const r = ok(welchTest(proportionMoments({ n: 100, successes: 0 }), proportionMoments({ n: 100, successes: 5 })));
  assert.equal(r.relative, null);
  near(r.absolute.estimate, 0.05, 1e-15, "absolute difference");
});

test("rejects an alpha outside (0, 1), naming the field", () => {
  assert.throws(() => welchTest(control3000, treatment3461, { alpha: 1.5 }), /^RangeError: alpha: /);
});
