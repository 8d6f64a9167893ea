import { test } from "node:test";
import assert from "node:assert/strict";
import { meanMoments, proportionMoments } from "../../src/stats/ratio-moments.ts";
import { sampleSizePerArm, usersNeeded } from "../../src/stats/sample-size.ts";
import { welchTest, type WelchResult } from "../../src/stats/welch-test.ts";

test("textbook: effect size d = 0.5 at α 0.05 two-sided and 80 % power needs 63 per arm", () => {
  // n = 2(z₀.₉₇₅ + z₀.₈)²/d² = 2(1.959964 + 0.841621)²/0.25 = 62.79 (normal approximation;
  // Cohen's t-based table says 64).
  assert.equal(sampleSizePerArm(1, 1, 0.5), 63);
  assert.equal(sampleSizePerArm(1, 1, -0.5), 63);
});

test("textbook: a 50 % rate against 60 % (σ² = 0.25 per arm, δ 0.1) needs 393 per arm", () => {
  // 2 · 0.25 · 7.849/0.01 = 392.4
  assert.equal(sampleSizePerArm(0.25, 0.25, 0.1), 393);
  // more power, more users: 90 % → (1.959964 + 1.281552)² · 0.5/0.01 = 525.4
  assert.equal(sampleSizePerArm(0.25, 0.25, 0.1, { power: 0.9 }), 526);
});

test("users needed for a relative lift counts what each arm still lacks", () => {
  const control = proportionMoments({ n: 100, successes: 50 });
  const treatment = proportionMoments({ n: 120, successes: 60 });
  // relative lift 20 % of 0.5 = 0.1 absolute, variances 0.25: the same 393 per arm
  const r = usersNeeded(control, treatment, { relativeEffect: 0.2 });
  assert.equal(r.perArm, 393);
  assert.equal(r.remaining, 393 - 100 + (393 - 120));
  assert.equal(r.scale, "relative");
  assert.equal(usersNeeded(control, treatment, { absoluteEffect: 0.1 }).perArm, 393);
  assert.equal(
    usersNeeded(proportionMoments({ n: 1000, successes: 500 }), proportionMoments({ n: 1000, successes: 500 }), {
      relativeEffect: 0.2,
    }).remaining,
    0,
  );
});

test("by default it sizes for the observed effect; no effect needs infinitely many", () => {
  const control = meanMoments({ n: 50, sum: 500, sumSquares: 50 * 100 + 49 * 4 }); // mean 10, var 4
  const same = usersNeeded(control, control);
  assert.equal(same.perArm, Infinity);
  assert.equal(same.remaining, Infinity);
  const treatment = meanMoments({ n: 50, sum: 550, sumSquares: 50 * 121 + 49 * 4 }); // mean 11, var 4
  const r = usersNeeded(control, treatment);
  assert.ok(Math.abs(r.effect - 0.1) < 1e-12);
  // relative variances: 4·121/10⁴ + 4/100 = 0.0884; n = 7.849 · 0.0884/0.01 = 69.4
  assert.equal(r.perArm, 70);
});

test("at the computed size a difference of exactly δ lies z₀.₉₇₅ + z₀.₈ standard errors out", () => {
  // (The power itself is simulated in stats-simulation.test.ts.)
  const n = sampleSizePerArm(1, 1, 0.5);
  const control = meanMoments({ n, sum: 0, sumSquares: n - 1 });
  const treatment = meanMoments({ n, sum: 0.5 * n, sumSquares: 0.25 * n + (n - 1) });
  const r = welchTest(control, treatment) as WelchResult;
  const z = r.absolute.estimate / r.absolute.se;
  assert.ok(z >= 1.959964 + 0.841621 && z < 1.959964 + 0.841621 + 0.03, `expected z ${z}`);
});

test("rejects bad options naming the field", () => {
  assert.throws(() => sampleSizePerArm(1, 1, 0.5, { power: 1 }), /^RangeError: power: /);
  assert.throws(() => sampleSizePerArm(1, 1, 0.5, { alpha: 0 }), /^RangeError: alpha: /);
  assert.throws(() => sampleSizePerArm(-1, 1, 0.5), /^RangeError: varianceControl: /);
  assert.throws(() => sampleSizePerArm(1, 1, NaN), /^RangeError: effect: /);
  assert.throws(
    () => usersNeeded(proportionMoments({ n: 10, successes: 0 }), proportionMoments({ n: 10, successes: 1 })),
    /^RangeError: relativeEffect: /,
  );
});
