import { test } from "node:test";
import assert from "node:assert/strict";
import { allocateBuckets, bucketTable, bucketTargets, type ArmAllocation } from "../../src/assign/allocate.ts";
import { BUCKETS, bucketOf } from "../../src/assign/hash.ts";

function owned(arm: ArmAllocation): number {
  return arm.ranges.reduce((n, r) => n + r.end - r.start, 0);
}

function assertCovers(arms: ArmAllocation[]): void {
  const table = bucketTable(arms);
  assert.ok(
    table.every((i) => i >= 0),
    "every bucket has an owner",
  );
  assert.equal(
    arms.reduce((n, a) => n + owned(a), 0),
    BUCKETS,
    "no bucket is owned twice",
  );
}

/** A small deterministic PRNG (mulberry32) so the property test is reproducible. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("a fresh split is contiguous in arm order, like GrowthBook's bucket ranges", () => {
  const arms = allocateBuckets(
    [],
    [
      { variant: "a", weight: 50 },
      { variant: "b", weight: 30 },
      { variant: "c", weight: 20 },
    ],
  );
  assert.deepEqual(
    arms.map((a) => a.ranges),
    [[{ start: 0, end: 5000 }], [{ start: 5000, end: 8000 }], [{ start: 8000, end: 10000 }]],
  );
});

test("bucketTargets uses largest remainders and always sums to 10000", () => {
  assert.deepEqual(bucketTargets([1, 1, 1]), [3334, 3333, 3333]);
  assert.deepEqual(bucketTargets([100, 0]), [10000, 0]);
});

test("a canary ramp 1→5→10→25→50→100 never moves a canary user back to stable", () => {
  let arms = allocateBuckets(
    [],
    [
      { variant: "stable", weight: 100 },
      { variant: "canary", weight: 0 },
    ],
  );
  let canary = new Set<number>();
  for (const pct of [1, 5, 10, 25, 50, 100]) {
    arms = allocateBuckets(arms, [
      { variant: "stable", weight: 100 - pct },
      { variant: "canary", weight: pct },
    ]);
    assertCovers(arms);
    const table = bucketTable(arms);
    for (const b of canary) assert.equal(table[b], 1, `bucket ${b} stays on canary at ${pct}%`);
    canary = new Set([...table.keys()].filter((b) => table[b] === 1));
    assert.equal(canary.size, pct * 100);
  }
});

test("property: a user whose bucket is kept never changes arm, and only surplus buckets move", () => {
  const random = prng(42);
  const variants = ["a", "b", "c", "d"];
  const users = Array.from({ length: 2000 }, (_, i) => bucketOf("phase-1", `user-${i}`));
  let arms: ArmAllocation[] = [];
  for (let round = 0; round < 300; round++) {
    const live = variants.filter(() => random() < 0.8);
    if (live.length === 0) live.push("a");
    const raw: number[] = live.map(() => Math.floor(random() * 100));
    if (!raw.some((w) => w > 0)) raw[0] = 1;
    const before = bucketTable(arms);
    const beforeNames = arms.map((a) => a.variant);
    const next = allocateBuckets(
      arms,
      live.map((variant, i) => ({ variant, weight: raw[i] })),
    );
    assertCovers(next);
    const after = bucketTable(next);
    const afterNames = next.map((a) => a.variant);
    const targets = bucketTargets(raw);
    // Count moved buckets: exactly the surplus an arm had to give up (or had when it left).
    let moved = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const was = before[b] >= 0 ? beforeNames[before[b]] : undefined;
      if (was !== afterNames[after[b]]) moved++;
    }
    let surplus = 0;
    const oldCounts = new Map<string, number>();
    for (const arm of arms) oldCounts.set(arm.variant, owned(arm));
    for (const [variant, count] of oldCounts) {
      const i = live.indexOf(variant);
      surplus += Math.max(0, count - (i < 0 ? 0 : targets[i]));
    }
    const unowned = before.filter((i) => i < 0).length;
    assert.equal(moved, surplus + unowned, `round ${round}: only surplus buckets move`);
    // A user keeps its arm unless its arm shrank (or vanished) this round.
    for (const b of users) {
      const was = before[b] >= 0 ? beforeNames[before[b]] : undefined;
      const now = afterNames[after[b]];
      if (was !== undefined && was !== now) {
        const i = live.indexOf(was);
        const shrank = i < 0 || targets[i] < (oldCounts.get(was) ?? 0);
        assert.ok(shrank, `round ${round}: a user of ${was} moved though ${was} did not shrink`);
      }
    }
    arms = next;
  }
});
