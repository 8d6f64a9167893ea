import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ExperimentSchema, ExperimentStatus } from "../../gen/turnout/v1/experiment_pb.js";
import { buildExperimentReport } from "../../src/control/experiments/experiment-report.ts";
import { createExperimentTally, type ExperimentTally } from "../../src/control/experiments/experiment-tally.ts";
import { createSeededRandom } from "../../src/stats/seeded-random.ts";

const experiment = create(ExperimentSchema, {
  id: "e1",
  name: "e1",
  route: "chat",
  status: ExperimentStatus.RUNNING,
  arms: [{ name: "a", variant: "a", weight: 50 }, { name: "b", variant: "b", weight: 50 }],
  phases: [{ seed: "s", weights: [50, 50] }],
});

/** `users` units split by `share` of arm 1; arm b is 20% faster to first token and fails 2% vs 6%. */
function feed(tally: ExperimentTally, users: number, share: number, seed = 7): void {
  const rnd = createSeededRandom(seed);
  for (let u = 0; u < users; u++) {
    const arm = u < users * share ? 1 : 0;
    for (let r = 0; r < 3; r++) {
      const ttft = (arm === 1 ? 80 : 100) * (0.5 + rnd.next());
      const failed = rnd.next() < (arm === 1 ? 0.02 : 0.06);
      tally.apply({ experiment: "e1", phase: 0, arm, unitHash: u, status: failed ? "upstream_status" : "ok", latencyMs: ttft + 50, ttftMs: failed ? -1 : ttft, completionTokens: 4, tokensPerSecond: 40 });
    }
  }
}

describe("experiment report", () => {
  test("finds a faster TTFT and a lower error rate in the treatment arm, with SRM ok at 50/50", () => {
    const tally = createExperimentTally();
    feed(tally, 2000, 0.5);
    const report = buildExperimentReport(experiment, tally.get("e1"), 0);
    assert.deepEqual(report.arms.map((a) => Number(a.users)), [1000, 1000]);
    assert.deepEqual(report.arms.map((a) => Number(a.requests)), [3000, 3000]);
    const ttft = report.comparisons.find((c) => c.metric === "ttft_ms")!;
    assert.equal(ttft.outcome, "better");
    assert.ok(ttft.lift < -0.1 && ttft.lift > -0.3, String(ttft.lift));
    assert.ok(ttft.pValue < 0.001);
    assert.ok(ttft.liftCiLow < ttft.lift && ttft.lift < ttft.liftCiHigh);
    assert.ok(ttft.sequentialLow <= ttft.liftCiLow && ttft.sequentialHigh >= ttft.liftCiHigh, "the always-valid interval is wider");
    const errors = report.comparisons.find((c) => c.metric === "error_rate")!;
    assert.equal(errors.outcome, "better");
    assert.ok(errors.treatmentMean < errors.controlMean);
    assert.match(report.verdict, /b is \d+% faster to first token/);
    assert.equal(report.sampleRatio!.warning, false);
    assert.ok(report.arms[1].ttftMs!.p50 < report.arms[0].ttftMs!.p50);
    assert.ok(report.arms[0].ttftMs!.p99 >= report.arms[0].ttftMs!.p95 && report.arms[0].ttftMs!.p95 >= report.arms[0].ttftMs!.p50);
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
      tally.apply({ experiment: "e1", phase: 0, arm, unitHash: u, status: "ok", latencyMs: 10, ttftMs: 5, completionTokens: 1, tokensPerSecond: 0 });
      tally.recordFeedback({ experiment: "e1", phase: 0, arm, unitHash: u, metric: "thumbs_up", value: arm === 1 ? (u % 10 < 8 ? 1 : 0) : u % 10 < 4 ? 1 : 0 });
    }
    // feedback naming its unit by another hash than the outcomes' bucket adds no user
    tally.recordFeedback({ experiment: "e1", phase: 0, arm: 0, unitHash: 0x9e3779b9, metric: "score", value: 4 });
    const report = buildExperimentReport(experiment, tally.get("e1"), 0);
    assert.deepEqual(report.arms.map((x) => Number(x.users)), [200, 200]);
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
    assert.deepEqual(report.arms.map((a) => Number(a.users)), [0, 0]);
    assert.ok(report.comparisons.every((c) => c.outcome === "insufficient"));
    assert.equal(report.sampleRatio!.warning, false);
  });

  test("the tally holds at most maxExperiments experiments and counts what it drops", () => {
    const tally = createExperimentTally({ maxExperiments: 2 });
    for (const experiment of ["x", "y", "z"]) tally.apply({ experiment, phase: 0, arm: 0, unitHash: 1, status: "ok", latencyMs: 1, ttftMs: 1, completionTokens: 1, tokensPerSecond: 1 });
    assert.ok(tally.get("x") && tally.get("y"));
    assert.equal(tally.get("z"), undefined);
    assert.equal(tally.droppedTotal(), 1);
  });
});
