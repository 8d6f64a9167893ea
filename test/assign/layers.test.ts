import { test } from "node:test";
import assert from "node:assert/strict";
import { allocateBuckets, bucketTable, type Range } from "../../src/assign/allocate.ts";
import { BUCKETS, bucketOf } from "../../src/assign/hash.ts";
import { allocateLayer, compileLayer, layerSlotProblems, validateLayerShares, type LayerSlot } from "../../src/assign/layers.ts";
import { compileTargeting } from "../../src/assign/targeting/compile-targeting.ts";
import { TurnoutError } from "../../src/errors.ts";

const UNITS = 100_000;

function owned(ranges: readonly Range[]): number {
  return ranges.reduce((n, r) => n + r.end - r.start, 0);
}

/** mulberry32, so the property test is reproducible. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Within k binomial standard deviations of n·p. */
function assertNear(count: number, n: number, p: number, what: string, k = 5): void {
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(Math.abs(count - n * p) <= k * sd + 1, `${what}: ${count}, expected ${n * p} ± ${(k * sd).toFixed(0)}`);
}

test("a fresh layer is contiguous in experiment order with the unclaimed rest at the top", () => {
  const slots = allocateLayer(
    [],
    [
      { experiment: "a", percent: 30 },
      { experiment: "b", percent: 20 },
    ],
  );
  assert.deepEqual(slots, [
    { experiment: "a", percent: 30, ranges: [{ start: 0, end: 3000 }] },
    { experiment: "b", percent: 20, ranges: [{ start: 3000, end: 5000 }] },
  ]);
});

test("changing shares moves only surplus buckets: growing takes free buckets, removing frees them", () => {
  const first = allocateLayer(
    [],
    [
      { experiment: "a", percent: 30 },
      { experiment: "b", percent: 20 },
    ],
  );
  const grown = allocateLayer(first, [
    { experiment: "a", percent: 40 },
    { experiment: "b", percent: 20 },
  ]);
  assert.deepEqual(grown[1].ranges, first[1].ranges, "b keeps every bucket");
  assert.equal(owned(grown[0].ranges), 4000);
  for (const r of first[0].ranges)
    assert.ok(
      grown[0].ranges.some((g) => g.start <= r.start && r.end <= g.end),
      "a keeps its old buckets",
    );
  const shrunk = allocateLayer(grown, [
    { experiment: "a", percent: 10 },
    { experiment: "b", percent: 20 },
  ]);
  assert.equal(owned(shrunk[0].ranges), 1000);
  assert.deepEqual(shrunk[1].ranges, first[1].ranges);
  const replaced = allocateLayer(shrunk, [
    { experiment: "b", percent: 20 },
    { experiment: "c", percent: 50 },
  ]);
  assert.deepEqual(replaced[0].ranges, first[1].ranges, "b is untouched when a leaves and c arrives");
  assert.equal(owned(replaced[1].ranges), 5000);
  assert.deepEqual(layerSlotProblems(replaced), []);
});

test("property: over 200 random share changes no experiment's kept bucket moves, and shares are exact", () => {
  const random = prng(7);
  const ids = ["a", "b", "c", "d"];
  let slots: LayerSlot[] = [];
  for (let round = 0; round < 200; round++) {
    const live = ids.filter(() => random() < 0.75);
    let left = 100;
    const shares = live.map((experiment) => {
      const percent = Math.floor(random() * left * 100) / 100;
      left -= percent;
      return { experiment, percent };
    });
    const next = allocateLayer(slots, shares);
    assert.deepEqual(layerSlotProblems(next), [], `round ${round}: no bucket owned twice`);
    const before = bucketTable(slots);
    const after = bucketTable(next);
    next.forEach((slot, i) => {
      assert.equal(owned(slot.ranges), Math.round(slot.percent * 100), `round ${round}: ${slot.experiment}'s share`);
      const j = slots.findIndex((s) => s.experiment === slot.experiment);
      if (j < 0) return;
      const kept = Math.min(owned(slots[j].ranges), owned(slot.ranges));
      let stayed = 0;
      for (let b = 0; b < BUCKETS; b++) if (before[b] === j && after[b] === i) stayed++;
      assert.equal(stayed, kept, `round ${round}: ${slot.experiment} keeps min(old, new) of its buckets`);
    });
    slots = next;
  }
});

test("shares are validated with paths; overlapping slots do not compile", () => {
  assert.deepEqual(
    validateLayerShares([
      { experiment: "a", percent: 60 },
      { experiment: "a", percent: 50 },
      { experiment: "", percent: -1 },
    ]),
    [
      { field: "experiments[1].experiment", message: 'duplicate experiment "a" in the layer' },
      { field: "experiments[2].experiment", message: "must be a non-empty experiment id" },
      { field: "experiments[2].percent", message: "must be a number from 0 to 100" },
      { field: "experiments", message: "shares sum to 110%, more than 100%" },
    ],
  );
  assert.throws(() => allocateLayer([], [{ experiment: "a", percent: 101 }]), TurnoutError);
  assert.deepEqual(
    allocateLayer(
      [],
      [
        { experiment: "a", percent: 33.3 },
        { experiment: "b", percent: 33.3 },
        { experiment: "c", percent: 33.4 },
      ],
    ).map((s) => owned(s.ranges)),
    [3330, 3330, 3340],
  );
  const overlapping: LayerSlot[] = [
    { experiment: "a", percent: 50, ranges: [{ start: 0, end: 5000 }] },
    { experiment: "b", percent: 50, ranges: [{ start: 4999, end: 9999 }] },
  ];
  assert.throws(() => compileLayer("layer", overlapping), /experiments\[1\]\.ranges\[0\]: bucket 4999 is also owned by "a"/);
});

test("two experiments in one layer never share a unit over 100k units, and each gets ≈ its share", () => {
  const slots = allocateLayer(
    [],
    [
      { experiment: "prompt-v2", percent: 30 },
      { experiment: "model-8b", percent: 45 },
    ],
  );
  const layer = compileLayer("layer-chat", slots);
  const inRanges = (ranges: readonly Range[], b: number) => ranges.some((r) => r.start <= b && b < r.end);
  const counts = [0, 0];
  let none = 0;
  for (let i = 0; i < UNITS; i++) {
    const unit = `user-${i}`;
    const bucket = bucketOf("layer-chat", unit);
    assert.equal(layer.bucketOf(unit), bucket);
    const inA = inRanges(slots[0].ranges, bucket);
    const inB = inRanges(slots[1].ranges, bucket);
    assert.ok(!(inA && inB), `${unit} is in both experiments`);
    const index = layer.experimentOf(unit);
    assert.equal(index, inA ? 0 : inB ? 1 : -1);
    if (index >= 0) counts[index]++;
    else none++;
  }
  assertNear(counts[0], UNITS, 0.3, "prompt-v2");
  assertNear(counts[1], UNITS, 0.45, "model-8b");
  assertNear(none, UNITS, 0.25, "in no experiment");
  assert.equal(layer.experimentOf(undefined), -1);
  assert.equal(layer.experimentOf(""), -1);
});

test("inside its layer share, an experiment's own seed splits units ≈ by arm weight", () => {
  const layer = compileLayer("layer-chat", allocateLayer([], [{ experiment: "e", percent: 40 }]));
  const arms = bucketTable(
    allocateBuckets(
      [],
      [
        { variant: "control", weight: 50 },
        { variant: "treatment", weight: 50 },
      ],
    ),
  );
  let entered = 0;
  let treatment = 0;
  for (let i = 0; i < UNITS; i++) {
    const unit = `user-${i}`;
    if (layer.experimentOf(unit) !== 0) continue;
    entered++;
    if (arms[bucketOf("e-phase-1", unit)] === 1) treatment++;
  }
  assertNear(entered, UNITS, 0.4, "entered");
  assertNear(treatment, entered, 0.5, "treatment among entered");
});

test("experiments in different layers overlap independently: the joint distribution ≈ the product", () => {
  const l1 = compileLayer(
    "layer-1",
    allocateLayer(
      [],
      [
        { experiment: "a", percent: 30 },
        { experiment: "b", percent: 20 },
      ],
    ),
  );
  const l2 = compileLayer(
    "layer-2",
    allocateLayer(
      [],
      [
        { experiment: "c", percent: 50 },
        { experiment: "d", percent: 10 },
      ],
    ),
  );
  const p1 = [0.3, 0.2, 0.5]; // a, b, none
  const p2 = [0.5, 0.1, 0.4]; // c, d, none
  const joint = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  const at = (index: number) => (index < 0 ? 2 : index);
  for (let i = 0; i < UNITS; i++) {
    const unit = `user-${i}`;
    joint[at(l1.experimentOf(unit))][at(l2.experimentOf(unit))]++;
  }
  for (let x = 0; x < 3; x++) for (let y = 0; y < 3; y++) assertNear(joint[x][y], UNITS, p1[x] * p2[y], `cell (${x},${y})`);
});

test("targeting within a layer: only matching units enter, and never two experiments of the layer", () => {
  const slots = allocateLayer(
    [],
    [
      { experiment: "new-users", percent: 50 },
      { experiment: "eu", percent: 50 },
    ],
  );
  const layer = compileLayer("layer-t", slots);
  const rules = [
    compileTargeting({ not: { attr: "visits", gte: 2 } }),
    compileTargeting({ attr: "region", in: ["eu-west", "eu-central"] }),
  ];
  const regions = ["eu-west", "us-east", "eu-central", "apac"];
  const entered = [0, 0];
  for (let i = 0; i < 20_000; i++) {
    const unit = `user-${i}`;
    const attributes = { visits: String(i % 5), region: regions[i % 4] };
    const e = layer.experimentOf(unit);
    const enters = e >= 0 && rules[e].matches(attributes, unit);
    if (!enters) continue;
    entered[e]++;
    if (e === 0) assert.ok(i % 5 < 2, "only new users enter new-users");
    else assert.ok(regions[i % 4].startsWith("eu"), "only EU users enter eu");
  }
  assertNear(entered[0], 20_000, 0.5 * 0.4, "new-users");
  assertNear(entered[1], 20_000, 0.5 * 0.5, "eu");
});
