import assert from "node:assert/strict";
import { test } from "node:test";
import { refKey, signRef } from "../../src/assign/feedback-ref.ts";
import { feedbackReplayKey } from "../../src/assign/feedback-replay-window.ts";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { acceptFeedback, type FeedbackDesk, type FeedbackEntry } from "../../src/proxy/feedback/accept-feedback.ts";
import { createFeedbackReplays } from "../../src/proxy/feedback/feedback-replays.ts";
import type { FeedbackTargets } from "../../src/proxy/feedback/feedback-targets.ts";

const key = refKey("accept-feedback-secret-0123");
const fields = {
  experiment: "e",
  phase: 0,
  arm: 1,
  unitHash: "1f",
  requestId: "r-1",
  snapshotVersion: 3,
  issuedAt: 1_800_000_000_000,
};
const DAY = 24 * 3600_000;
/** Experiment "e" (2 phases, 2 arms, any metric) running, "d" (1 phase, 3 arms) taking thumbs_up in [0, 1] and score in [1, 5]. */
const targets: FeedbackTargets = {
  version: 5,
  ttlMs: 7 * DAY,
  experiments: new Map([
    ["e", { phases: 2, arms: 2, metrics: null }],
    [
      "d",
      {
        phases: 1,
        arms: 3,
        metrics: new Map([
          ["thumbs_up", { min: 0, max: 1 }],
          ["score", { min: 1, max: 5 }],
        ]),
      },
    ],
  ]),
};

function desk(got: FeedbackEntry[] = [], capacity?: number): FeedbackDesk {
  const replays = createFeedbackReplays({ id: "p", logger: createLogger({ level: "silent" }), capacity });
  return { refKey: key, replays, listener: (f) => got.push(f) };
}

/** The error `fn` throws, as [code, message, fields]. */
function refusal(fn: () => unknown): [string, string, string[]] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TurnoutError, String(err));
    return [err.code, err.message, err.violations.map((v) => v.field)];
  }
  assert.fail("expected a refusal");
}

test("accepted feedback reaches the listener with what the ref says; a ref naming a phase or arm beyond the wire types is refused", () => {
  const got: FeedbackEntry[] = [];
  const d = desk(got);
  const ref = signRef(fields, key);
  const r = acceptFeedback({ ref, metric: "score", value: 0 }, targets, d, 42);
  assert.deepEqual(r, { experiment: "e", arm: 1 });
  assert.deepEqual(got, [
    {
      experiment: "e",
      phase: 0,
      arm: 1,
      unitHash: "1f",
      requestId: "r-1",
      metric: "score",
      value: 0,
      receivedAtMs: 42,
      replayKey: feedbackReplayKey(ref, "score"),
      refIssuedAtMs: fields.issuedAt,
    },
  ]);
  for (const big of [{ phase: 2 ** 32 }, { arm: 2 ** 31 }]) {
    assert.throws(
      () => acceptFeedback({ ref: signRef({ ...fields, ...big }, key), metric: "score", value: 1 }, targets, d),
      (err: unknown) => err instanceof TurnoutError && err.message === "ref: names a phase or arm out of range",
    );
  }
  assert.equal(got.length, 1);
});

test("a ref and metric are accepted once: the replay is already_exists naming the ref, another metric of the same ref is new", () => {
  const got: FeedbackEntry[] = [];
  const d = desk(got);
  const ref = signRef(fields, key);
  const now = fields.issuedAt + 1000;
  acceptFeedback({ ref, metric: "thumbs_up", value: 1 }, targets, d, now);
  const replay = refusal(() => acceptFeedback({ ref, metric: "thumbs_up", value: 0 }, targets, d, now + 5));
  assert.deepEqual(replay, [
    ErrorCode.AlreadyExists,
    'ref: feedback on metric "thumbs_up" for this answer was accepted already (a ref takes one value per metric)',
    ["ref"],
  ]);
  acceptFeedback({ ref, metric: "score", value: 3 }, targets, d, now + 6);
  acceptFeedback({ ref: signRef({ ...fields, requestId: "r-2" }, key), metric: "thumbs_up", value: 1 }, targets, d, now + 7);
  assert.deepEqual(
    got.map((f) => [f.requestId, f.metric, f.value]),
    [
      ["r-1", "thumbs_up", 1],
      ["r-1", "score", 3],
      ["r-2", "thumbs_up", 1],
    ],
  );
});

test("a ref older than the TTL is refused as expired, one just within it is taken", () => {
  const d = desk();
  const ref = signRef(fields, key);
  assert.deepEqual(
    refusal(() => acceptFeedback({ ref, metric: "score", value: 1 }, targets, d, fields.issuedAt + 8 * DAY + 7200_000)),
    [ErrorCode.InvalidArgument, "ref: expired (issued 8d2h ago; refs take feedback for 7d)", ["ref"]],
  );
  const short = { ...targets, ttlMs: 3600_000 };
  assert.match(
    refusal(() => acceptFeedback({ ref, metric: "score", value: 1 }, short, d, fields.issuedAt + 3600_001))[1],
    /^ref: expired \(issued 1h ago; refs take feedback for 1h\)$/,
  );
  acceptFeedback({ ref, metric: "score", value: 1 }, short, d, fields.issuedAt + 3600_000);
});

test("a validly signed ref for an unknown experiment, phase or arm is refused naming the ref", () => {
  const d = desk();
  const now = fields.issuedAt + 1;
  const cases: [Partial<typeof fields>, string][] = [
    [{ experiment: "nope" }, 'ref: names experiment "nope", which is not running and did not end within the last 7d'],
    [{ phase: 2 }, 'ref: names phase 2 of experiment "e", which has phases 0..1'],
    [{ arm: 2 }, 'ref: names arm 2 of experiment "e", which has 2 arms'],
    [{ experiment: "d", phase: 1 }, 'ref: names phase 1 of experiment "d", which has phases 0..0'],
  ];
  for (const [change, message] of cases) {
    const ref = signRef({ ...fields, ...change }, key);
    assert.deepEqual(
      refusal(() => acceptFeedback({ ref, metric: "thumbs_up", value: 1 }, targets, d, now)),
      [ErrorCode.InvalidArgument, message, ["ref"]],
    );
  }
  assert.equal(d.replays.window.size, 0, "nothing refused was remembered");
});

test("a ref from a newer snapshot naming an experiment or phase this proxy does not know yet is unavailable (retry), not refused", () => {
  const d = desk();
  const now = fields.issuedAt + 1;
  for (const change of [{ experiment: "new-one" }, { phase: 2 }]) {
    const ref = signRef({ ...fields, ...change, snapshotVersion: 6 }, key);
    assert.deepEqual(
      refusal(() => acceptFeedback({ ref, metric: "score", value: 1 }, targets, d, now)),
      [ErrorCode.Unavailable, "this proxy has not applied snapshot 6 of the ref yet (it serves 5); try again", []],
    );
  }
  const oldArm = signRef({ ...fields, arm: 9, snapshotVersion: 6 }, key);
  assert.equal(
    refusal(() => acceptFeedback({ ref: oldArm, metric: "score", value: 1 }, targets, d, now))[0],
    ErrorCode.InvalidArgument,
    "arms never change",
  );
});

test("values must be in the metric's declared range, undeclared metrics of an experiment that declares some are refused, and the default range is ±1e9", () => {
  const d = desk();
  const now = fields.issuedAt + 1;
  const onD = signRef({ ...fields, experiment: "d", arm: 2 }, key);
  assert.deepEqual(
    refusal(() => acceptFeedback({ ref: onD, metric: "thumbs_up", value: 2 }, targets, d, now)),
    [ErrorCode.InvalidArgument, 'value: must be from 0 to 1 for metric "thumbs_up", got 2', ["value"]],
  );
  assert.deepEqual(refusal(() => acceptFeedback({ ref: onD, metric: "score", value: 0.5 }, targets, d, now))[2], ["value"]);
  assert.deepEqual(
    refusal(() => acceptFeedback({ ref: onD, metric: "clicks", value: 1 }, targets, d, now)),
    [
      ErrorCode.InvalidArgument,
      'metric: "clicks" is not a feedback metric of experiment "d" (it takes thumbs_up, score)',
      ["metric"],
    ],
  );
  acceptFeedback({ ref: onD, metric: "score", value: 5 }, targets, d, now);
  const onE = signRef(fields, key);
  for (const value of [1.7e308, -1.000001e9])
    assert.match(
      refusal(() => acceptFeedback({ ref: onE, metric: "score", value }, targets, d, now))[1],
      /^value: must be from -1000000000 to 1000000000 for metric "score"/,
    );
  for (const value of [Number.POSITIVE_INFINITY, Number.NaN])
    assert.equal(
      refusal(() => acceptFeedback({ ref: onE, metric: "score", value }, targets, d, now))[1],
      "value: must be a finite number",
    );
  acceptFeedback({ ref: onE, metric: "score", value: 1e9 }, targets, d, now);
});

test("without a snapshot feedback is unavailable; a ref older than a full window's floor is refused as expired", () => {
  const d = desk([], 2);
  const ref = signRef(fields, key);
  assert.equal(refusal(() => acceptFeedback({ ref, metric: "score", value: 1 }, undefined, d))[0], ErrorCode.Unavailable);
  const now = fields.issuedAt + 10_000;
  for (const [requestId, issuedAt] of [
    ["r-a", fields.issuedAt + 1],
    ["r-b", fields.issuedAt + 2],
    ["r-c", fields.issuedAt + 3],
  ] as const)
    acceptFeedback({ ref: signRef({ ...fields, requestId, issuedAt }, key), metric: "score", value: 1 }, targets, d, now);
  assert.equal(d.replays.window.floorMs, fields.issuedAt + 1, "r-a left the full window");
  assert.deepEqual(
    refusal(() => acceptFeedback({ ref, metric: "score", value: 1 }, targets, d, now)),
    [
      ErrorCode.InvalidArgument,
      `ref: expired (issued before ${new Date(fields.issuedAt + 1).toISOString()}, the start of this proxy's replay window of 2 keys)`,
      ["ref"],
    ],
  );
});
