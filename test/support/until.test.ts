import { test } from "node:test";
import assert from "node:assert/strict";
import { until } from "./until.ts";

test("until answers the first truthy value of a sync or async condition", async () => {
  let calls = 0;
  assert.equal(await until("the third call", () => ++calls >= 3 && calls, { intervalMs: 0 }), 3);
  let n = 0;
  assert.deepEqual(await until("an object", async () => (++n === 2 ? { n } : undefined), { intervalMs: 0 }), { n: 2 });
});

test("until fails after its timeout naming what it waited for, or what a function says was seen", async () => {
  await assert.rejects(
    until("a miracle", () => false, { timeoutMs: 30 }),
    { message: "timed out after 30 ms waiting for a miracle" },
  );
  let seen = 0;
  await assert.rejects(
    until(
      () => `seen to reach 1e9; it is ${seen}`,
      () => ++seen > 1e9,
      { timeoutMs: 30, intervalMs: 5 },
    ),
    /^Error: timed out after 30 ms waiting for seen to reach 1e9; it is \d+$/,
  );
});

test("an error thrown by the condition fails the wait at once", async () => {
  const started = performance.now();
  await assert.rejects(
    until("never", () => assert.fail("broken"), { timeoutMs: 10_000 }),
    { message: "broken" },
  );
  assert.ok(performance.now() - started < 1000);
});
