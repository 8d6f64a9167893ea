import { test } from "node:test";
import assert from "node:assert/strict";
import { deliveredStatus, parseRetryAfter, retryDelayMs, retryableStatus } from "../../src/control/alerts/retry-policy.ts";

test("retries network-class answers (5xx, 408, 429) and gives up on the rest", () => {
  assert.deepEqual([500, 502, 503, 504, 429, 408].map(retryableStatus), [true, true, true, true, true, true]);
  assert.deepEqual([400, 401, 403, 404, 410, 301].map(retryableStatus), [false, false, false, false, false, false]);
  assert.deepEqual([200, 204, 299, 300, 199].map(deliveredStatus), [true, true, true, false, false]);
});

test("reads Retry-After as seconds or as an HTTP date", () => {
  const now = Date.parse("2026-12-01T18:00:00Z");
  assert.equal(parseRetryAfter("3", now), 3000);
  assert.equal(parseRetryAfter(["7"], now), 7000);
  assert.equal(parseRetryAfter("Tue, 01 Dec 2026 18:00:10 GMT", now), 10_000);
  assert.equal(parseRetryAfter("Tue, 01 Dec 2026 17:00:00 GMT", now), 0, "a date in the past: at once");
  assert.equal(parseRetryAfter(undefined, now), undefined);
  assert.equal(parseRetryAfter("soon", now), undefined);
});

test("backs off exponentially with jitter in [½, 1] of the step, capped, and waits at least what Retry-After asks", () => {
  const at = (random: number) => (n: number) => retryDelayMs(n, undefined, { baseMs: 500, maxMs: 30_000, random: () => random });
  assert.deepEqual([1, 2, 3, 4, 5, 8].map(at(0.999999)), [500, 1000, 2000, 4000, 8000, 30_000]);
  assert.deepEqual([1, 2, 3, 4, 5, 8].map(at(0)), [250, 500, 1000, 2000, 4000, 15_000]);
  assert.equal(retryDelayMs(1, 5000, { random: () => 0 }), 5000, "Retry-After longer than the backoff wins");
  assert.equal(
    retryDelayMs(5, 100, { baseMs: 500, random: () => 0 }),
    4000,
    "a shorter Retry-After does not shorten the backoff",
  );
  assert.equal(retryDelayMs(1, 3_600_000, { maxRetryAfterMs: 300_000, random: () => 0 }), 300_000, "capped at maxRetryAfterMs");
});
