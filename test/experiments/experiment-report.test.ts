import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ExperimentSchema, ExperimentStatus } from "../../gen/turnout/v1/experiment_pb.js";
import { buildExperimentReport } from "../../src/control/experiments/experiment-report.ts";
import { createExperimentTally, type ExperimentTally } from "../../src/control/experiments/experiment-tally.ts";
import { createSeededRandom } from "../../src/stats/seeded-random.ts";

/** Experiment e1 (arms a, b) with `phases` (seed and weights each). */
function experimentWith(phases: { seed: string; weights: number[] }[]) {
  return create(ExperimentSchema, {
    id: "e1",
    name: "e1",
    route: "chat",
    status: ExperimentStatus.RUNNING,
    arms: [
      { name: "a", variant: "a", weight: 50 },
      { name: "b", variant: "b", weight: 50 },
    ],
    phases,
  });
}
const experiment = experimentWith([{ seed: "s", weights: [50, 50] }]);

/** `users` units split by `share` of arm 1; arm b is 20% faster to first token and fails 2% vs 6%. */
function feed(tally: ExperimentTally, users: number, share: number, seed = 7): void {
  const rnd = createSeededRandom(seed);
  for (let u = 0; u < users; u++) {
    const arm = u < users * share ? 1 : 0;
    for (let r = 0; r < 3; r++) {
      const ttft = (arm === 1 ? 80 : 100) * (0.5 + rnd.next());
      const failed = rnd.next() < (arm === 1 ? 0.02 : 0.06);
      tally.apply({
        experiment: "e1",
        phase: 0,
        arm,
        unitHash: u,
        status: failed ? "upstream_status" : "ok",
        latencyMs: ttft + 50,
        ttftMs: failed ? -1 : ttft,
        completionTokens: 4,
        tokensPerSecond: 40,
      });
    }
  }
}

describe("experiment report", () => {
  test("finds a faster TTFT and a lower error rate in the treatment arm, with SRM ok at 50/50", () => {
    const tally = createExperimentTally();
    feed(tally, 2000, 0.5);
    const report = buildExperimentReport(experiment, tally.get("e1"), 0);
    assert.deepEqual(
      report.arms.map((a) => Number(a.users)),
      [1000, 1000],
    );
    assert.deepEqual(
      report.arms.map((a) => Number(a.requests)),
      [3000, 3000],
    );
    const ttft = report.comparisons.find((c) => c.metric === "ttft_ms")!;
    assert.equal(ttft.outcome, "better");
    assert.ok(ttft.lift < -0.1 && ttft.lift > -0.3, String(ttft.lift));
    assert.ok(ttft.pValue < 0.001);
    assert.ok(ttft.liftCiLow < ttft.lift && ttft.lift < ttft.liftCiHigh);
    assert.ok(
      ttft.sequentialLow <= ttft.liftCiLow && ttft.sequentialHigh >= ttft.liftCiHigh,
      "the always-valid interval is wider",
    );
    const errors = report.comparisons.find((c) => c.metric === "error_rate")!;
    assert.equal(errors.outcome, "better");
    assert.ok(errors.treatmentMean < errors.controlMean);
    assert.match(report.verdict, /b is \d+% faster to first token/);
    assert.equal(report.sampleRatio!.warning, false);
    assert.ok(report.arms[1].ttftMs!.p50 < report.arms[0].ttftMs!.p50);
    assert.ok(
      report.arms[0].ttftMs!.p99 >= report.arms[0].ttftMs!.p95 && report.arms[0].ttftMs!.p95 >= report.arms[0].ttftMs!.p50,
    );
  });

  test("a 52/48 assignment skew at 10,000 users raises the SRM warning", () => {
    const tally = createExperimentTally();
    feed(tally, 10_000, 0.52);
    const report = buildExperimentReport(experiment, tally.get("e1"), 0);
    assert.equal(report.sampleRatio!.warning, true);
    assert.ok(report.sampleRatio!.pValue < 0.01, String(report.sampleRatio!.pValue));
    assert.match(report.verdict, /^sample ratio mismatch/);
  });

  test("feedback shows up per arm with its mean and a comparison", () => {
    const tally = createExperimentTally();
    for (let u = 0; u < 400; u++) {
      const arm = u % 2;
      tally.apply({
        experiment: "e1",
        phase: 0,
        arm,
        unitHash: u,
        status: "ok",
        latencyMs: 10,
        ttftMs: 5,
        completionTokens: 1,
        tokensPerSecond: 0,
      });
      tally.recordFeedback({
        experiment: "e1",
        phase: 0,
        arm,
        unitHash: u,
        metric: "thumbs_up",
        value: arm === 1 ? (u % 10 < 8 ? 1 : 0) : u % 10 < 4 ? 1 : 0,
      });
    }
    // feedback of a user with no outcome counted adds no user to the arm
    tally.recordFeedback({ experiment: "e1", phase: 0, arm: 0, unitHash: 0x9e3779b9, metric: "score", value: 4 });
    const report = buildExperimentReport(experiment, tally.get("e1"), 0);
    assert.deepEqual(
      report.arms.map((x) => Number(x.users)),
      [200, 200],
    );
    assert.equal(report.sampleRatio!.warning, false);
    const score = report.arms[0].feedback.find((f) => f.metric === "score")!;
    assert.equal(score.mean, 4);
    assert.equal(score.users, 1n);
    const [a, b] = report.arms.map((x) => x.feedback.find((f) => f.metric === "thumbs_up")!);
    assert.equal(Number(a.count), 200);
    assert.ok(Math.abs(a.mean - 0.4) < 1e-9 && Math.abs(b.mean - 0.8) < 1e-9, `${a.mean} ${b.mean}`);
    const cmp = report.comparisons.find((c) => c.metric === "thumbs_up")!;
    assert.equal(cmp.outcome, "better");
    assert.match(cmp.verdict, /more thumbs-up/);
  });

  test("an experiment with nothing counted yet reports zeros and insufficient comparisons", () => {
    const report = buildExperimentReport(experiment, undefined, 0);
    assert.deepEqual(
      report.arms.map((a) => Number(a.users)),
      [0, 0],
    );
    assert.ok(report.comparisons.every((c) => c.outcome === "insufficient"));
    assert.equal(report.sampleRatio!.warning, false);
  });

  test("the tally holds at most maxExperiments experiments and counts what it drops", () => {
    const tally = createExperimentTally({ maxExperiments: 2 });
    for (const experiment of ["x", "y", "z"])
      tally.apply({
        experiment,
        phase: 0,
        arm: 0,
        unitHash: 1,
        status: "ok",
        latencyMs: 1,
        ttftMs: 1,
        completionTokens: 1,
        tokensPerSecond: 1,
      });
    assert.ok(tally.get("x") && tally.get("y"));
    assert.equal(tally.get("z"), undefined);
    assert.equal(tally.droppedTotal(), 1);
  });

  test("after a split change the comparisons and the SRM check use the current phase; users are counted once over phases", () => {
    const twoPhases = experimentWith([
      { seed: "s", weights: [50, 50] },
      { seed: "s", weights: [80, 20] },
    ]);
    const tally = createExperimentTally();
    const rnd = createSeededRandom(11);
    const put = (phase: number, arm: number, u: number, ttft: number) =>
      tally.apply({
        experiment: "e1",
        phase,
        arm,
        unitHash: u,
        status: "ok",
        latencyMs: ttft + 10,
        ttftMs: ttft,
        completionTokens: 1,
        tokensPerSecond: 0,
      });
    // phase 0 (50/50): b is twice as slow to first token
    for (let u = 0; u < 1000; u++) put(0, u % 2, u, (u % 2 === 1 ? 200 : 100) * (0.5 + rnd.next()));
    // phase 1 (80/20): the same users, plus 1000 new ones; no difference any more
    for (let u = 0; u < 2000; u++) put(1, u % 5 === 0 ? 1 : 0, u, 100 * (0.5 + rnd.next()));
    const report = buildExperimentReport(twoPhases, tally.get("e1"), 0);
    assert.equal(report.comparedPhase, 1);
    const ttft = report.comparisons.find((c) => c.metric === "ttft_ms")!;
    assert.notEqual(ttft.outcome, "worse", ttft.verdict);
    assert.ok(Math.abs(ttft.lift) < 0.1, String(ttft.lift));
    assert.deepEqual(report.sampleRatio!.users.map(Number), [1600, 400]);
    assert.equal(report.sampleRatio!.warning, false);
    assert.deepEqual(report.sampleRatio!.expectedShares, [0.8, 0.2]);
    assert.deepEqual(
      report.phases.map((ph) => ph.users.map(Number)),
      [
        [500, 500],
        [1600, 400],
      ],
    );
    // arm users over the experiment: a user in both phases is one user
    const inA = new Set(
      [...Array(1000).keys()].filter((u) => u % 2 === 0).concat([...Array(2000).keys()].filter((u) => u % 5 !== 0)),
    );
    assert.equal(Number(report.arms[0].users), inA.size);
    // phase 0 alone would have found b slower
    const phase0 = buildExperimentReport(experiment, tally.get("e1"), 0);
    assert.equal(phase0.comparisons.find((c) => c.metric === "ttft_ms")!.outcome, "worse");
  });

  test("the tally counts at most maxUnits users per experiment and counts the records it drops", () => {
    const tally = createExperimentTally({ maxUnits: 3 });
    for (let u = 0; u < 5; u++)
      tally.apply({
        experiment: "x",
        phase: 0,
        arm: u % 2,
        unitHash: u,
        status: "ok",
        latencyMs: 1,
        ttftMs: 1,
        completionTokens: 1,
        tokensPerSecond: 1,
      });
    tally.apply({
      experiment: "x",
      phase: 0,
      arm: 0,
      unitHash: 0,
      status: "ok",
      latencyMs: 1,
      ttftMs: 1,
      completionTokens: 1,
      tokensPerSecond: 1,
    });
    tally.recordFeedback({ experiment: "x", phase: 0, arm: 1, unitHash: 1, metric: "score", value: 1 });
    tally.recordFeedback({ experiment: "x", phase: 0, arm: 1, unitHash: 9, metric: "score", value: 1 });
    const entry = tally.get("x")!;
    assert.equal(entry.unitCount, 3);
    assert.equal(entry.outcomes, 4);
    assert.equal(tally.droppedTotal(), 3);
  });

  test("feedback values beyond ±1e12 or not numbers are not counted, so two of 1.7e308 never make a mean or a comparison Infinity or NaN", () => {
    const tally = createExperimentTally();
    for (let u = 0; u < 200; u++) {
      const arm = u % 2;
      tally.apply({
        experiment: "e1",
        phase: 0,
        arm,
        unitHash: u,
        status: "ok",
        latencyMs: 10,
        ttftMs: 5,
        completionTokens: 1,
        tokensPerSecond: 0,
      });
      // the largest values accepted, many per user
      for (let k = 0; k < 50; k++)
        tally.recordFeedback({
          experiment: "e1",
          phase: 0,
          arm,
          unitHash: u,
          metric: "revenue",
          value: arm === 0 ? 1e12 : -1e12,
        });
    }
    for (const value of [1.7e308, 1.7e308, Number.POSITIVE_INFINITY, Number.NaN, -2e12])
      tally.recordFeedback({ experiment: "e1", phase: 0, arm: 0, unitHash: 0, metric: "revenue", value });
    assert.equal(tally.droppedTotal(), 5);
    const report = buildExperimentReport(experiment, tally.get("e1"), 0);
    const [a, b] = report.arms.map((x) => x.feedback.find((f) => f.metric === "revenue")!);
    assert.deepEqual([a.mean, b.mean, Number(a.count)], [1e12, -1e12, 5000]);
    const cmp = report.comparisons.find((c) => c.metric === "revenue")!;
    for (const n of [cmp.controlMean, cmp.treatmentMean, cmp.lift, cmp.liftCiLow, cmp.liftCiHigh, cmp.pValue])
      assert.ok(Number.isFinite(n), `${n} is finite`);
  });
});
