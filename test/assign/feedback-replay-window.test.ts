import assert from "node:assert/strict";
import { test } from "node:test";
import { FeedbackReplayWindow, ReplayCheck, feedbackReplayKey } from "../../src/assign/feedback-replay-window.ts";

/** A deterministic stream of 53-bit keys (xorshift), none 0. */
function keys(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const hi = (x >>> 0) & 0x1f_ffff;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return hi * 0x1_0000_0000 + (x >>> 0) + 1;
  };
}

test("the replay key of a ref and metric is the same every time, differs by metric and by ref, and is a safe non-zero integer", () => {
  const a = feedbackReplayKey("t1.abc.def", "thumbs_up");
  assert.equal(feedbackReplayKey("t1.abc.def", "thumbs_up"), a);
  assert.notEqual(feedbackReplayKey("t1.abc.def", "score"), a);
  assert.notEqual(feedbackReplayKey("t1.abd.def", "thumbs_up"), a);
  for (const k of [a, feedbackReplayKey("x", "y"), feedbackReplayKey("", "")]) {
    assert.ok(Number.isSafeInteger(k) && k > 0 && k < 2 ** 53, String(k));
  }
});

test("a key added once is seen after, a second add is refused, and keys survive the window growing", () => {
  const w = new FeedbackReplayWindow(10_000);
  const next = keys(7);
  const added = Array.from({ length: 5000 }, (_, i) => {
    const k = next();
    assert.equal(w.check(k, 1000 + i), ReplayCheck.New);
    assert.equal(w.add(k, 1000 + i), true);
    return k;
  });
  assert.equal(w.size, 5000);
  added.forEach((k, i) => {
    assert.equal(w.check(k, 1000 + i), ReplayCheck.Seen);
    assert.equal(w.add(k, 1000 + i), false);
  });
  assert.equal(w.size, 5000);
  assert.equal(w.floorMs, Number.NEGATIVE_INFINITY);
});

test("a full window lets its oldest key go and raises the floor to that key's ref, so an older ref is refused rather than taken for new", () => {
  const w = new FeedbackReplayWindow(3);
  for (const [k, at] of [
    [11, 100],
    [12, 300],
    [13, 200],
  ])
    w.add(k, at);
  assert.equal(w.add(14, 400), true);
  assert.equal(w.size, 3);
  assert.equal(w.evictedWhenFull, 1);
  assert.equal(w.floorMs, 100, "key 11 (ref of 100) left");
  assert.equal(w.check(11, 100), ReplayCheck.BelowFloor, "the key that left is never taken for new");
  assert.equal(w.add(11, 100), false);
  assert.equal(w.check(12, 300), ReplayCheck.Seen);
  assert.equal(w.add(15, 150), true, "a ref newer than the floor is still taken");
  assert.equal(w.floorMs, 300, "key 12 (ref of 300) left next, in insertion order");
  assert.equal(w.check(13, 200), ReplayCheck.BelowFloor);
  assert.equal(w.check(16, 301), ReplayCheck.New);
});

test("expire lets keys of expired refs go from the oldest on and raises the floor; it stops at the first newer key", () => {
  const w = new FeedbackReplayWindow(100);
  w.add(1, 10);
  w.add(2, 20);
  w.add(3, 5);
  w.add(4, 30);
  assert.equal(w.expire(15), 1);
  assert.equal(w.floorMs, 10);
  assert.equal(w.has(3), true, "an older key behind a newer one waits its turn");
  assert.equal(w.expire(25), 2);
  assert.deepEqual([w.has(2), w.has(3), w.has(4), w.floorMs, w.size], [false, false, true, 20, 1]);
  assert.equal(w.expire(25), 0);
});

test("under a long random mix of adds, replays and expiries every key newer than the floor stays in the window and every key that left is at or below it", () => {
  const w = new FeedbackReplayWindow(2000);
  const next = keys(99);
  const model = new Map<number, number>();
  const order: number[] = [];
  let clock = 0;
  for (let i = 0; i < 60_000; i++) {
    clock += 1;
    const replay = i % 7 === 3 && model.size > 0;
    const k = replay ? order[i % order.length] : next();
    const issuedAt = replay ? (model.get(k) as number) : clock - (i % 500);
    const before = w.check(k, issuedAt);
    if (replay) assert.notEqual(before, ReplayCheck.New, "a replay is never taken for new");
    if (w.add(k, issuedAt)) {
      model.set(k, issuedAt);
      order.push(k);
    }
    if (i % 1000 === 999) w.expire(clock - 3000);
  }
  assert.ok(w.evictedWhenFull > 0 && w.size <= 2000);
  for (const [k, issuedAt] of model) {
    if (issuedAt > w.floorMs) assert.equal(w.has(k), true, `key ${k} newer than the floor`);
    else assert.equal(w.check(k, issuedAt), ReplayCheck.BelowFloor);
  }
});
