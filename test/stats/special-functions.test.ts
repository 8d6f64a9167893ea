import { test } from "node:test";
import assert from "node:assert/strict";
import { chiSquaredSf } from "../../src/stats/chi-squared-sf.ts";
import { logBeta, logGamma } from "../../src/stats/log-gamma.ts";
import { normalCdf, normalQuantile, normalSf } from "../../src/stats/normal-distribution.ts";
import { regularizedBeta } from "../../src/stats/regularized-beta.ts";
import { regularizedGamma } from "../../src/stats/regularized-gamma.ts";
import { studentTCdf, studentTPdf, studentTQuantile, studentTSf } from "../../src/stats/student-t-distribution.ts";

// Reference values: mpmath 1.3 at 40 significant digits (ncdf, erfinv, betainc, gammainc,
// loggamma), rounded to doubles, unless a comment names a table. Tolerances are relative.

function close(actual: number, expected: number, relTolerance: number, what: string): void {
  const error = expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected);
  assert.ok(
    error <= relTolerance,
    `${what}: ${actual} is not ${expected} (relative error ${error.toExponential(2)} > ${relTolerance})`,
  );
}

test("log-gamma is exact at known points and accurate elsewhere", () => {
  close(logGamma(0.5), 0.5723649429247001, 1e-14, "lnΓ(½) = ln √π");
  assert.ok(Math.abs(logGamma(1)) < 1e-14 && Math.abs(logGamma(2)) < 1e-14, "lnΓ(1) = lnΓ(2) = 0");
  assert.ok(Math.abs(logGamma(1.5) - -0.12078223763524522) < 5e-15, "lnΓ(1.5) to 5e-15 absolute");
  close(logGamma(3.7), 1.428072326665388, 1e-14, "lnΓ(3.7)");
  close(logGamma(9.99), 12.779315214350193, 1e-14, "lnΓ(9.99)");
  close(logGamma(17.3), 31.51562417817529, 1e-14, "lnΓ(17.3)");
  close(logGamma(1000.5), 5908.674175848678, 1e-14, "lnΓ(1000.5)");
  close(logGamma(1e-8), 18.42068073818021, 1e-14, "lnΓ(1e-8)");
  close(logGamma(11), Math.log(3628800), 1e-14, "lnΓ(11) = ln 10!");
  // B(a, ½) for large a (the t distribution with ν = 6868.4) without cancellation.
  close(logBeta(3434.2, 0.5), -3.4983682989362803, 1e-14, "ln B(3434.2, ½)");
  close(logBeta(2, 3), Math.log(1 / 12), 1e-14, "B(2, 3) = 1/12");
  assert.throws(() => logGamma(0), /^RangeError: x: /);
});

test("regularised gamma and beta functions return both tails accurately", () => {
  const g = regularizedGamma(2.5, 1.3);
  close(g.p + g.q, 1, 1e-14, "P + Q");
  const b = regularizedBeta(2, 3, 0.4);
  // I_0.4(2, 3) = Σ_{j=2..4} C(4, j) 0.4^j 0.6^(4−j) = 0.5248 exactly.
  close(b.lower, 0.5248, 1e-14, "I_0.4(2,3)");
  close(b.upper, 0.4752, 1e-14, "1 − I_0.4(2,3)");
  assert.throws(() => regularizedBeta(1, 1, 1.5), /^RangeError: x: /);
});

test("normal CDF, survival function and quantile match table and mpmath values", () => {
  close(normalCdf(-1.959963984540054), 0.025, 1e-14, "Φ(−1.96)");
  close(normalCdf(-1), 0.15865525393145705, 1e-14, "Φ(−1)");
  close(normalCdf(0.7), 0.758036347776927, 1e-14, "Φ(0.7)");
  close(normalCdf(-3), 0.0013498980316300946, 1e-14, "Φ(−3)");
  close(normalCdf(-8.5), 9.479534822203318e-18, 1e-13, "Φ(−8.5)");
  close(normalCdf(-20), 2.7536241186062337e-89, 1e-13, "Φ(−20)");

  close(normalSf(6), 9.86587645037698e-10, 1e-14, "1 − Φ(6)");
  close(normalQuantile(0.975), 1.9599639845400538, 1e-14, "z 0.975 (table 1.959964)");
  close(normalQuantile(0.8), 0.8416212335729144, 1e-14, "z 0.8 (table 0.841621)");
  close(normalQuantile(0.001), -3.0902323061678136, 1e-14, "z 0.001");
  close(normalQuantile(0.49), -0.025068908258711057, 1e-14, "z 0.49");
  close(normalQuantile(1e-10), -6.361340902404057, 1e-14, "z 1e-10");
  close(normalQuantile(1e-300), -37.0470962993612, 1e-14, "z 1e-300");
  close(normalQuantile(1 - 1e-12), 7.0344869100478356, 1e-7, "z 1 − 1e-12 (1 − 1e-12 is itself rounded)");
  assert.equal(normalQuantile(0), -Infinity);
  assert.equal(normalQuantile(1), Infinity);
  assert.throws(() => normalQuantile(1.2), /^RangeError: p: /);
});

test("Student t CDF and tails match mpmath for small, fractional and large degrees of freedom", () => {
  close(studentTCdf(1, 1), 0.75, 1e-14, "Cauchy CDF at 1");
  close(studentTCdf(1, 2), 0.7886751345948129, 1e-14, "t₂ CDF at 1");
  close(studentTCdf(-2.5, 3), 0.04385332350403277, 1e-13, "t₃ CDF at −2.5");
  close(studentTCdf(1.96, 4.5), 0.9431748758818074, 1e-14, "t₄.₅ CDF at 1.96");
  close(studentTSf(25, 10), 1.1996963800316705e-10, 1e-12, "t₁₀ tail at 25");
  close(studentTCdf(-40, 30), 6.863022597203201e-28, 1e-12, "t₃₀ CDF at −40");
  close(studentTSf(3.3, 99.7), 0.0006709267885480793, 1e-13, "t₉₉.₇ tail at 3.3");
  close(studentTSf(1.96, 6868.4), 0.02501808210576753, 1e-12, "t₆₈₆₈.₄ tail at 1.96");
  close(studentTCdf(-6, 6868.4), 1.0367485035057686e-9, 1e-11, "t₆₈₆₈.₄ CDF at −6");
  close(studentTSf(1.96, 1e5), 0.02499928159715082, 1e-11, "t₁₀₀₀₀₀ tail at 1.96");
  close(studentTSf(1.96, Infinity), normalSf(1.96), 0, "ν = ∞ is the normal");
  // density integrates to the CDF: a crude midpoint check on [0, 1] for ν = 5
  let area = 0;
  for (let i = 0; i < 1000; i++) area += studentTPdf((i + 0.5) / 1000, 5) / 1000;
  close(area, studentTCdf(1, 5) - 0.5, 1e-7, "∫₀¹ density");
  assert.throws(() => studentTCdf(1, 0), /^RangeError: df: /);
});

test("Student t quantiles match tables and invert the CDF to 1e-12", () => {
  // Classic table: t 0.975 at ν = 1, 2, 10, 30: 12.706, 4.303, 2.228, 2.042.
  close(studentTQuantile(0.975, 1), 12.706204736174694, 1e-13, "ν 1");
  close(studentTQuantile(0.975, 2), 4.302652729749462, 1e-14, "ν 2");
  close(studentTQuantile(0.975, 10), 2.2281388519862744, 1e-14, "ν 10");
  close(studentTQuantile(0.975, 30), 2.0422724563012378, 1e-14, "ν 30");
  close(studentTQuantile(0.05, 4.5), -2.065575888878525, 1e-14, "ν 4.5");
  close(studentTQuantile(0.999, 99.7), 3.173996935522148, 1e-13, "ν 99.7");
  close(studentTQuantile(0.975, 6868.4), 1.960309433585572, 1e-13, "ν 6868.4");
  close(studentTQuantile(1e-12, 1), -318309886183.79065, 1e-12, "ν 1, far tail");
  close(studentTQuantile(1e-12, 10), -40.5320961786626, 1e-12, "ν 10, far tail (scipy 1.17)");
  for (const df of [1.5, 3, 7.25, 42, 512, 20000]) {
    for (const p of [1e-9, 0.01, 0.2, 0.5, 0.77, 0.995]) {
      close(studentTCdf(studentTQuantile(p, df), df), p, 1e-12, `CDF(quantile(${p}, ${df}))`);
    }
  }
});

test("χ² survival function matches mpmath, down to 1e-67", () => {
  close(chiSquaredSf(3.84, 1), 0.050043521248705106, 1e-14, "χ²₁ 3.84 (table 0.05)");
  close(chiSquaredSf(4.7619, 1), 0.029096412235818252, 1e-14, "χ²₁ 4.7619");
  close(chiSquaredSf(52.63, 1), 4.026908328926853e-13, 1e-13, "χ²₁ 52.63");
  close(chiSquaredSf(300, 1), 3.294362383314041e-67, 1e-13, "χ²₁ 300");
  close(chiSquaredSf(10, 2), 0.006737946999085467, 1e-14, "χ²₂ 10 = e⁻⁵");
  close(chiSquaredSf(10, 5), 0.07523524614651218, 1e-14, "χ²₅ 10");
  close(chiSquaredSf(52.63, 50), 0.3726024201834128, 1e-13, "χ²₅₀ 52.63");
  close(chiSquaredSf(100, 50), 3.454931382984864e-5, 1e-13, "χ²₅₀ 100");
  assert.equal(chiSquaredSf(0, 3), 1);
  assert.throws(() => chiSquaredSf(1, 0), /^RangeError: df: /);
});
