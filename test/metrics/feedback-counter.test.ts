import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { FeedbackSchema, type Feedback } from "../../gen/turnout/v1/events_pb.js";
import { createFeedbackCounter } from "../../src/control/metrics/feedback-counter.ts";

test("counts feedback by experiment and metric, hands each to the hook, and caps client-chosen series under _other", () => {
  const hooked: Feedback[] = [];
  const c = createFeedbackCounter({ maxSeries: 3, onFeedback: (f) => hooked.push(f) });
  const f = (experiment: string, metric: string) => create(FeedbackSchema, { experiment, metric, value: 1 });
  for (const [e, m] of [
    ["a", "thumbs_up"],
    ["a", "thumbs_up"],
    ["a", "score"],
    ["b", "x"],
    ["a", "y"],
    ["c", "z"],
    ["b", "x"],
  ])
    c.apply(f(e, m));
  assert.equal(c.total(), 7);
  assert.equal(hooked.length, 7);
  assert.equal(c.count("a", "thumbs_up"), 2);
  assert.equal(c.count("b", "x"), 2);
  assert.deepEqual(c.samples(), [
    [{ experiment: "a", metric: "thumbs_up" }, 2],
    [{ experiment: "a", metric: "score" }, 1],
    [{ experiment: "b", metric: "x" }, 2],
    [{ experiment: "_other", metric: "_other" }, 2],
  ]);
});
