import { test } from "node:test";
import assert from "node:assert/strict";
import { metricVerdict, VerdictMetrics } from "../../src/stats/metric-verdict.ts";
import { meanMoments, ratioMoments, ratioSums, type RatioUnit } from "../../src/stats/ratio-moments.ts";
import { sampleRatioMismatch } from "../../src/stats/sample-ratio-mismatch.ts";
import { createSeededRandom, type SeededRandom } from "../../src/stats/seeded-random.ts";
import { sequentialInterval, type SequentialResult } from "../../src/stats/sequential-interval.ts";
import { welchTest, type WelchResult } from "../../src/stats/welch-test.ts";

// Seeded simulations of the statistics functions: deterministic on every machine.

/** How one arm's users behave. */
interface ArmBehaviour {
  /** Multiplies every user's error probability. */
  errorFactor: number;
  /** Multiplies every request's time to first token. */
  ttftFactor: number;
}

/** One simulated user: request count, errors and summed TTFT. */
interface SimUser {
  arm: 0 | 1;
  requests: number;
  errors: number;
  ttftMs: number;
}

/**
 * Users with realistic skew: activity is log-normal (a few heavy users send most requests),
 * each user has their own error propensity (log-normal around 3 %) and their own TTFT level.
 * Each user lands in arm 1 with probability ½, independent of all that.
 */
function simulateUsers(random: SeededRandom, users: number, arms: [ArmBehaviour, ArmBehaviour]): SimUser[] {
  const out: SimUser[] = [];
  for (let i = 0; i < users; i++) {
    const arm = random.bernoulli(0.5) ? 1 : 0;
    const behaviour = arms[arm];
    const requests = 1 + random.poisson(random.logNormal(0.7, 1));
    const errorP = Math.min(0.9, 0.03 * random.logNormal(0, 1.2) * behaviour.errorFactor);
    const errors = random.binomial(requests, errorP);
    const level = random.logNormal(Math.log(300), 0.5);
    let ttftMs = 0;
    for (let r = 0; r < requests; r++) ttftMs += level * random.logNormal(0, 0.3) * behaviour.ttftFactor;
    out.push({ arm, requests, errors, ttftMs });
  }
  return out;
}

function armSums(users: SimUser[], arm: 0 | 1, numerator: (u: SimUser) => number) {
  const units: RatioUnit[] = users
    .filter((u) => u.arm === arm)
    .map((u) => ({ numerator: numerator(u), denominator: u.requests }));
  return ratioMoments(ratioSums(units));
}

/** The naive request-level test that treats every request as independent (what not to do). */
function requestLevelErrorTest(users: SimUser[]): WelchResult {
  const arm = (a: 0 | 1) => {
    let n = 0;
    let errors = 0;
    for (const u of users)
      if (u.arm === a) {
        n += u.requests;
        errors += u.errors;
      }
    return meanMoments({ n, sum: errors, sumSquares: errors });
  };
  return welchTest(arm(0), arm(1)) as WelchResult;
}

const same: ArmBehaviour = { errorFactor: 1, ttftFactor: 1 };

test("A/A: over 200 simulated runs the per-user delta-method Welch test rejects at most 7 % at α 0.05", (t) => {
  const runs = 200;
  const rejections = { errorDifference: 0, errorLift: 0, ttftDifference: 0, ttftLift: 0, sequential: 0, naive: 0 };
  for (let run = 0; run < runs; run++) {
    const random = createSeededRandom(1000 + run);
    const users = simulateUsers(random, 1000, [same, same]);
    const e = welchTest(
      armSums(users, 0, (u) => u.errors),
      armSums(users, 1, (u) => u.errors),
    ) as WelchResult;
    const l = welchTest(
      armSums(users, 0, (u) => u.ttftMs),
      armSums(users, 1, (u) => u.ttftMs),
    ) as WelchResult;
    const s = sequentialInterval(
      armSums(users, 0, (u) => u.errors),
      armSums(users, 1, (u) => u.errors),
    ) as SequentialResult;
    assert.equal(e.status, "ok");
    if (e.absolute.pValue < 0.05) rejections.errorDifference += 1;
    if (e.relative!.pValue < 0.05) rejections.errorLift += 1;
    if (l.absolute.pValue < 0.05) rejections.ttftDifference += 1;
    if (l.relative!.pValue < 0.05) rejections.ttftLift += 1;
    if (s.absolute.pValue < 0.05) rejections.sequential += 1;
    if (requestLevelErrorTest(users).absolute.pValue < 0.05) rejections.naive += 1;
  }
  const rate = Object.fromEntries(Object.entries(rejections).map(([k, v]) => [k, v / runs])) as Record<
    keyof typeof rejections,
    number
  >;
  t.diagnostic(`false-positive rates at α 0.05 over ${runs} A/A runs of 1,000 users: ${JSON.stringify(rate)}`);
  // The decision test (difference of per-user ratio means, delta-method variance) holds its level.
  assert.ok(rate.errorDifference <= 0.07, `error-rate FPR ${rate.errorDifference}`);
  assert.ok(rate.ttftDifference <= 0.07, `TTFT FPR ${rate.ttftDifference}`);
  assert.ok(rate.sequential <= 0.05, `sequential FPR ${rate.sequential}`);
  // The relative lift's own p-value (gbstats' default) runs hotter with skewed users. Over 10,000
  // runs of this model (seeds 1000…10999): difference 4.6 % (error rate) and 5.2 % (TTFT), lift
  // 5.7 % and 5.3 %, sequential 0.1 %, request-level 18.9 %; these first 200 happen to run hot
  // (7 %, and 10 % for the error-rate lift). Reported, and the lift bounded loosely.
  assert.ok(rate.errorLift <= 0.12 && rate.ttftLift <= 0.12, `lift FPRs ${rate.errorLift}, ${rate.ttftLift}`);
  // the test can reject at all (a broken test that always says p = 1 would pass the bounds above)
  assert.ok(rejections.errorDifference + rejections.ttftDifference >= 4, "the test never rejects");
  // counting requests as independent overstates significance when users differ
  assert.ok(rate.naive > 2 * rate.errorDifference, `naive request-level FPR ${rate.naive}`);
});

test("a real difference is found in the right direction: 2,000 users, B errs 1.6× as often and is 20 % faster to first token", () => {
  const random = createSeededRandom(7);
  const users = simulateUsers(random, 2000, [same, { errorFactor: 1.6, ttftFactor: 0.8 }]);
  const errors = welchTest(
    armSums(users, 0, (u) => u.errors),
    armSums(users, 1, (u) => u.errors),
  );
  const ttft = welchTest(
    armSums(users, 0, (u) => u.ttftMs),
    armSums(users, 1, (u) => u.ttftMs),
  );
  const e = metricVerdict({ arm: "B", metric: VerdictMetrics.errorRate, test: errors });
  const l = metricVerdict({ arm: "B", metric: VerdictMetrics.timeToFirstToken, test: ttft });
  assert.equal(e.outcome, "worse", e.text);
  assert.equal(l.outcome, "better", l.text);
  assert.match(l.text, /^B is \d+% faster to first token \(p/);
});

test("power: 63 users per arm detect d = 0.5 in about 80 % of 400 simulated runs", () => {
  const random = createSeededRandom(99);
  const runs = 400;
  let detected = 0;
  for (let run = 0; run < runs; run++) {
    const draw = (shift: number) => {
      let sum = 0;
      let sumSquares = 0;
      for (let i = 0; i < 63; i++) {
        const x = shift + random.normal();
        sum += x;
        sumSquares += x * x;
      }
      return meanMoments({ n: 63, sum, sumSquares });
    };
    const r = welchTest(draw(0), draw(0.5)) as WelchResult;
    if (r.absolute.pValue < 0.05) detected += 1;
  }
  const power = detected / runs;
  // exact power of the t test here is 0.79; 400 runs have a standard error of 0.02
  assert.ok(power >= 0.72 && power <= 0.87, `power ${power}`);
});

/** Users per arm when each of `users` users lands in arm 0 with probability `share`. */
function assign(random: SeededRandom, users: number, share: number): [number, number] {
  let first = 0;
  for (let i = 0; i < users; i++) if (random.next() < share) first += 1;
  return [first, users - first];
}

test("SRM: a 52/48 skew over 10,000 users raises the alarm; a correct 50/50 split does not", (t) => {
  const skewed = sampleRatioMismatch(assign(createSeededRandom(5), 10_000, 0.52), [50, 50]);
  const fair = sampleRatioMismatch(assign(createSeededRandom(5), 10_000, 0.5), [50, 50]);
  t.diagnostic(
    `52/48: χ² ${skewed.chi2.toFixed(2)}, p ${skewed.pValue.toExponential(2)} (${skewed.verdict}); 50/50: χ² ${fair.chi2.toFixed(2)}, p ${fair.pValue.toFixed(3)} (${fair.verdict})`,
  );
  assert.notEqual(skewed.verdict, "ok");
  assert.equal(fair.verdict, "ok");
});

test("SRM over 200 seeded runs of 10,000 users: 52/48 is flagged almost always, 50/50 rarely", (t) => {
  const runs = 200;
  let flaggedSkew = 0;
  let flaggedFair = 0;
  for (let run = 0; run < runs; run++) {
    if (sampleRatioMismatch(assign(createSeededRandom(2000 + run), 10_000, 0.52), [1, 1]).verdict !== "ok") flaggedSkew += 1;
    if (sampleRatioMismatch(assign(createSeededRandom(5000 + run), 10_000, 0.5), [1, 1]).verdict !== "ok") flaggedFair += 1;
  }
  t.diagnostic(`flagged (warning or unhealthy): 52/48 in ${flaggedSkew}/${runs}, 50/50 in ${flaggedFair}/${runs}`);
  // expected: power at p < 0.01 with a 4σ skew ≈ 0.92; false alarms ≈ 1 %
  assert.ok(flaggedSkew / runs >= 0.85, `52/48 flagged ${flaggedSkew}/${runs}`);
  assert.ok(flaggedFair / runs <= 0.03, `50/50 flagged ${flaggedFair}/${runs}`);
});
