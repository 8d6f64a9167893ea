import assert from "node:assert/strict";
import { test } from "node:test";
import { refKey, signRef } from "../../src/assign/feedback-ref.ts";
import { TurnoutError } from "../../src/errors.ts";
import { acceptFeedback, type FeedbackEntry } from "../../src/proxy/feedback/accept-feedback.ts";

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

test("accepted feedback reaches the listener with what the ref says; a ref naming a phase or arm beyond the wire types is refused", () => {
  const got: FeedbackEntry[] = [];
  const r = acceptFeedback({ ref: signRef(fields, key), metric: "score", value: 0 }, key, (f) => got.push(f), 42);
  assert.deepEqual(r, { experiment: "e", arm: 1 });
  assert.deepEqual(got, [
    { experiment: "e", phase: 0, arm: 1, unitHash: "1f", requestId: "r-1", metric: "score", value: 0, receivedAtMs: 42 },
  ]);
  for (const big of [{ phase: 2 ** 32 }, { arm: 2 ** 31 }]) {
    assert.throws(
      () => acceptFeedback({ ref: signRef({ ...fields, ...big }, key), metric: "score", value: 1 }, key, (f) => got.push(f)),
      (err: unknown) => err instanceof TurnoutError && err.message === "ref: names a phase or arm out of range",
    );
  }
  assert.equal(got.length, 1);
});
