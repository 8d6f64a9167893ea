import { test } from "node:test";
import assert from "node:assert/strict";
import { sampleRatioMismatch } from "../../src/stats/sample-ratio-mismatch.ts";

// Check vectors from shared/reference/experiments.md (SRM).

function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not ${expected} ± ${tolerance}`);
}

test("[1000, 1100] at 50/50 gives χ² 4.762 and p 0.0291: no alarm", () => {
  const r = sampleRatioMismatch([1000, 1100], [50, 50]);
  near(r.chi2, 4.762, 5e-4, "χ²");
  assert.equal(r.df, 1);
  near(r.pValue, 0.0291, 5e-5, "p");
  assert.equal(r.verdict, "ok");
});

test("[5000, 5250] at 50/50 gives p 0.01354", () => {
  const r = sampleRatioMismatch([5000, 5250], [0.5, 0.5]);
  near(r.pValue, 0.01354, 5e-6, "p");
  assert.equal(r.verdict, "ok");
});

test("[900, 100] at 95/5 gives p ≈ 4.0e-13: unhealthy", () => {
  const r = sampleRatioMismatch([900, 100], [95, 5]);
  near(r.chi2, 52.631578947368, 1e-9, "χ²");
  near(r.pValue, 4.0e-13, 0.05e-13, "p");
  assert.equal(r.verdict, "unhealthy");
});

test("a p-value between 0.001 and 0.01 is a warning", () => {
  // [4850, 5150] at 50/50: χ² = 2·150²/5000 = 9, p = 0.0027.
  const r = sampleRatioMismatch([4850, 5150], [1, 1]);
  near(r.chi2, 9, 1e-12, "χ²");
  near(r.pValue, 0.0026997960632601866, 1e-14, "p (χ²₁ at 9 = 2·(1 − Φ(3)))");
  assert.equal(r.verdict, "warning");
});

test("three arms use two degrees of freedom; thresholds can be changed", () => {
  const r = sampleRatioMismatch([3400, 3300, 3300], [1, 1, 1]);
  assert.equal(r.df, 2);
  // expected 3333.33 each: χ² = (66.67² + 2·33.33²)/3333.33 = 2; χ²₂ sf(2) = e⁻¹
  near(r.chi2, 2, 1e-12, "χ²");
  near(r.pValue, Math.exp(-1), 1e-14, "p");
  assert.equal(sampleRatioMismatch([3400, 3300, 3300], [1, 1, 1], { warningBelow: 0.5 }).verdict, "warning");
});

test("users in an arm of weight 0 are a mismatch; no users at all is not", () => {
  assert.equal(sampleRatioMismatch([100, 100, 3], [1, 1, 0]).verdict, "unhealthy");
  assert.equal(sampleRatioMismatch([100, 100, 0], [1, 1, 0]).df, 1);
  const empty = sampleRatioMismatch([0, 0], [1, 1]);
  assert.equal(empty.pValue, 1);
  assert.equal(empty.verdict, "ok");
});

test("rejects bad input naming the field", () => {
  assert.throws(() => sampleRatioMismatch([1, 2], [1]), /^RangeError: weights: /);
  assert.throws(() => sampleRatioMismatch([1, -2], [1, 1]), /^RangeError: users\[1\]: /);
  assert.throws(() => sampleRatioMismatch([1, 2.5], [1, 1]), /^RangeError: users\[1\]: /);
  assert.throws(() => sampleRatioMismatch([1, 2], [1, NaN]), /^RangeError: weights\[1\]: /);
  assert.throws(() => sampleRatioMismatch([1, 2], [0, 0]), /^RangeError: weights: /);
});
