import { test } from "node:test";
import assert from "node:assert/strict";
import { create, equals, fromBinary } from "@bufbuild/protobuf";
import { FeedbackSchema, OutcomeBatchSchema, OutcomeSchema } from "../../gen/turnout/v1/events_pb.js";
import type { FeedbackEntry } from "../../src/proxy/feedback/accept-feedback.ts";
import { encodeOutcomeBatch } from "../../src/proxy/outcomes/outcome-record.ts";
import type { Outcome } from "../../src/proxy/outcome.ts";

const full: Outcome = {
  requestId: "req-1",
  snapshotVersion: 7,
  route: "qwen3-32b",
  variant: "canary",
  arm: "canary",
  armIndex: 1,
  unitHash: "",
  bucket: 4242,
  node: "gpu-2",
  status: "ok",
  httpStatus: 200,
  latencyMs: 812.25,
  ttftMs: 95.5,
  promptTokens: 17,
  completionTokens: 64,
  tokensPerSecond: 41.5,
} as Outcome;
const sparse: Outcome = {
  ...full,
  requestId: "req-2",
  variant: "",
  armIndex: undefined,
  bucket: undefined,
  node: "",
  status: "unavailable",
  httpStatus: 503,
  ttftMs: -1,
  promptTokens: 0,
  completionTokens: 0,
  tokensPerSecond: 0,
} as Outcome;

test("the hand-written OutcomeBatch encoding decodes to exactly the messages the schema would build", () => {
  const at = [1_795_000_000_123.456, 1_795_000_001_000];
  const decoded = fromBinary(OutcomeBatchSchema, encodeOutcomeBatch("proxy-a", [full, sparse], at));
  assert.equal(decoded.proxy, "proxy-a");
  const want = [full, sparse].map((o, i) =>
    create(OutcomeSchema, {
      requestId: o.requestId,
      proxy: "proxy-a",
      snapshotVersion: BigInt(o.snapshotVersion),
      route: o.route,
      variant: o.variant,
      arm: o.armIndex ?? -1,
      unitHash: o.bucket ?? -1,
      node: o.node,
      status: o.status,
      httpStatus: o.httpStatus,
      latencyMs: o.latencyMs,
      ttftMs: o.ttftMs,
      promptTokens: o.promptTokens,
      completionTokens: o.completionTokens,
      tokensPerSecond: o.tokensPerSecond,
      finishedAt: { seconds: BigInt(Math.floor(at[i] / 1000)), nanos: Math.round((at[i] % 1000) * 1e6) },
    }),
  );
  assert.equal(decoded.outcomes.length, 2);
  for (let i = 0; i < 2; i++) assert.ok(equals(OutcomeSchema, decoded.outcomes[i], want[i]), `outcome ${i} round-trips`);
  assert.equal(decoded.outcomes[1].arm, -1);
  assert.equal(decoded.outcomes[1].unitHash, -1);
});

test("an outcome counted in an experiment carries its id, phase, arm and unit hash; one outside carries none", () => {
  const inside = { ...full, experiment: "exp-1", experimentPhase: 2, armIndex: 0, unitHash: "fedcba98" } as Outcome;
  const outside = { ...full, unitHash: "fedcba98" } as Outcome;
  const [a, b] = fromBinary(OutcomeBatchSchema, encodeOutcomeBatch("p", [inside, outside], [1, 2])).outcomes;
  assert.deepEqual([a.experiment, a.experimentPhase, a.experimentArm, a.experimentUnit], ["exp-1", 2, 0, 0xfedcba98]);
  assert.deepEqual([b.experiment, b.experimentPhase, b.experimentArm, b.experimentUnit], ["", 0, 0, 0]);
});

test("feedback entries ride in the batch as OutcomeBatch.feedback and decode to exactly the Feedback messages the schema would build", () => {
  const entries: FeedbackEntry[] = [
    {
      experiment: "exp-1",
      phase: 2,
      arm: 1,
      unitHash: "fedcba98",
      requestId: "req-1",
      metric: "thumbs_up",
      value: 1,
      receivedAtMs: 1_795_000_000_123.5,
    },
    {
      experiment: "exp-1",
      phase: 0,
      arm: 0,
      unitHash: "0",
      requestId: "req-2",
      metric: "score",
      value: -2.5,
      receivedAtMs: 1_795_000_001_000,
    },
  ];
  const decoded = fromBinary(OutcomeBatchSchema, encodeOutcomeBatch("proxy-a", [full], [1], entries));
  assert.equal(decoded.outcomes.length, 1);
  assert.equal(decoded.feedback.length, 2);
  for (let i = 0; i < 2; i++) {
    const f = entries[i];
    const want = create(FeedbackSchema, {
      experiment: f.experiment,
      phase: f.phase,
      arm: f.arm,
      unitHash: parseInt(f.unitHash, 16),
      requestId: f.requestId,
      metric: f.metric,
      value: f.value,
      proxy: "proxy-a",
      receivedAt: { seconds: BigInt(Math.floor(f.receivedAtMs / 1000)), nanos: Math.round((f.receivedAtMs % 1000) * 1e6) },
    });
    assert.ok(equals(FeedbackSchema, decoded.feedback[i], want), `feedback ${i} round-trips`);
  }
  assert.equal(decoded.feedback[0].unitHash, 0xfedcba98, "the full unsigned 32-bit unit hash");
  const onlyFeedback = fromBinary(OutcomeBatchSchema, encodeOutcomeBatch("p", [], [], entries.slice(0, 1)));
  assert.deepEqual(
    [onlyFeedback.outcomes.length, onlyFeedback.feedback.length, onlyFeedback.feedback[0].metric],
    [0, 1, "thumbs_up"],
  );
});

test("a feedback entry's replay key and ref time ride in Feedback.replay_key and ref_issued_at", () => {
  const entry: FeedbackEntry = {
    experiment: "exp-1",
    phase: 0,
    arm: 1,
    unitHash: "1f",
    requestId: "req-9",
    metric: "score",
    value: 3,
    receivedAtMs: 1_795_000_002_000,
    replayKey: 2 ** 53 - 7,
    refIssuedAtMs: 1_795_000_001_250,
  };
  const [f] = fromBinary(OutcomeBatchSchema, encodeOutcomeBatch("p", [], [], [entry])).feedback;
  assert.equal(f.replayKey, BigInt(2 ** 53 - 7));
  assert.deepEqual([f.refIssuedAt?.seconds, f.refIssuedAt?.nanos], [1_795_000_001n, 250_000_000]);
});
