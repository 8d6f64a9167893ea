import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { FeedbackSchema } from "../../gen/turnout/v1/events_pb.js";
import { createFeedbackDedupe } from "../../src/control/metrics/feedback-dedupe.ts";

const entry = (key: number, issuedAtMs: number, proxy = "p1") =>
  create(FeedbackSchema, {
    experiment: "e",
    metric: "m",
    value: 1,
    proxy,
    replayKey: BigInt(key),
    refIssuedAt: timestampFromMs(issuedAtMs),
  });

test("each replay key is counted once, whichever proxy sent it; entries without a key are always counted", () => {
  const d = createFeedbackDedupe();
  assert.deepEqual(
    [entry(1, 100), entry(1, 100, "p2"), entry(2, 100), entry(1, 100)].map((f) => d.first(f)),
    [true, false, true, false],
  );
  const keyless = create(FeedbackSchema, { experiment: "e", metric: "m", value: 1 });
  assert.deepEqual([d.first(keyless), d.first(keyless)], [true, true]);
  assert.equal(d.duplicatesTotal(), 2);
});

test("a full dedupe lets its oldest keys go and counts refs older than them (it cannot tell), and two runs over the same entries decide the same", () => {
  const entries = [entry(1, 10), entry(2, 20), entry(3, 30), entry(1, 10), entry(2, 20), entry(3, 30), entry(4, 40)];
  const decide = () => {
    const d = createFeedbackDedupe(2);
    return entries.map((f) => d.first(f));
  };
  const once = decide();
  assert.deepEqual(
    once,
    [true, true, true, true, false, false, true],
    "key 1 left the full window: its ref is at the floor, counted",
  );
  assert.deepEqual(decide(), once);
});
