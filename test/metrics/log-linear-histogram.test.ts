import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BUCKET_COUNT,
  HistogramAccumulator,
  SparseHistogram,
  bucketIndex,
  bucketLowerMs,
  bucketWidthMs,
} from "../../src/stats/log-linear-histogram.ts";

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exact nearest-rank quantile. */
function exact(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
}

function accumulate(values: number[]): HistogramAccumulator {
  const h = new SparseHistogram();
  for (const v of values) h.add(v);
  const acc = new HistogramAccumulator();
  acc.merge(h);
  return acc;
}

test("every value lands in the bucket whose bounds contain it", () => {
  const next = rng(1);
  for (let i = 0; i < 20000; i++) {
    const v = Math.exp(next() * 30 - 8); // ~0.0003 ms .. ~3.5e9 ms
    const idx = bucketIndex(v);
    assert.ok(idx >= 0 && idx < BUCKET_COUNT);
    const lo = bucketLowerMs(idx);
    assert.ok(lo <= v * (1 + 1e-12) && v < lo + bucketWidthMs(idx) + 1e-9, `${v} in [${lo}, +${bucketWidthMs(idx)})`);
    if (v >= 0.128) assert.ok(bucketWidthMs(idx) / lo <= 1 / 64 + 1e-12);
  }
  assert.equal(bucketIndex(-5), 0);
  assert.equal(bucketIndex(Number.NaN), 0);
  assert.equal(bucketIndex(1e300), BUCKET_COUNT - 1);
});

test("percentiles are within 1% of the exact nearest-rank values", () => {
  const next = rng(7);
  const distributions: Record<string, () => number> = {
    uniform: () => 50 + next() * 950,
    lognormal: () => Math.exp(5 + 1.5 * Math.sqrt(-2 * Math.log(next() || 1e-12)) * Math.cos(2 * Math.PI * next())),
    bimodal: () => (next() < 0.9 ? 120 + next() * 10 : 8000 + next() * 4000),
  };
  for (const [name, draw] of Object.entries(distributions)) {
    const values = Array.from({ length: 50000 }, draw);
    const acc = accumulate(values);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.95, 0.99, 0.999]) {
      const want = exact(sorted, q);
      const got = acc.quantile(q);
      assert.ok(Math.abs(got - want) / want <= 0.01, `${name} p${q * 100}: got ${got}, exact ${want}`);
    }
    assert.equal(acc.count, values.length);
    assert.ok(Math.abs(acc.mean() - values.reduce((a, b) => a + b, 0) / values.length) < 1e-6 * acc.mean());
    assert.equal(acc.quantile(1), sorted.at(-1));
  }
});

test("small samples: quantiles stay within the exact min and max", () => {
  const acc = accumulate([250]);
  assert.equal(acc.quantile(0.5), 250);
  assert.equal(acc.quantile(0.99), 250);
  const two = accumulate([100, 300]);
  assert.ok(Math.abs(two.quantile(0.5) - 100) / 100 <= 0.01);
  assert.equal(two.quantile(0.99), 300);
  assert.equal(new HistogramAccumulator().quantile(0.5), 0);
});

test("histograms merge: slices added together answer as one histogram of all samples", () => {
  const next = rng(3);
  const values = Array.from({ length: 10000 }, () => 10 + next() * 5000);
  const whole = accumulate(values);
  const merged = new HistogramAccumulator();
  for (let i = 0; i < 10; i++) {
    const slice = new SparseHistogram();
    for (const v of values.slice(i * 1000, (i + 1) * 1000)) slice.add(v);
    if (i % 2 === 0) slice.seal();
    merged.merge(slice);
  }
  for (const q of [0.5, 0.95, 0.99]) assert.equal(merged.quantile(q), whole.quantile(q));
  assert.equal(merged.count, whole.count);
});

test("a sealed histogram still takes samples", () => {
  const h = new SparseHistogram();
  h.add(10);
  h.seal();
  h.add(10);
  h.add(2000);
  const acc = new HistogramAccumulator();
  acc.merge(h);
  assert.equal(acc.count, 3);
  assert.ok(Math.abs(acc.quantile(0.5) - 10) < 0.1);
  assert.equal(acc.max, 2000);
});
