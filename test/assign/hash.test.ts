import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { bucketOf, createBucketer, fnv1a32 } from "../../src/assign/hash.ts";

const vectors = JSON.parse(readFileSync(new URL("../fixtures/growthbook-hash-vectors.json", import.meta.url), "utf8")) as {
  hash: [string, string, number, number | null][];
};

test("fnv1a32 matches the FNV-1a reference values", () => {
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
  assert.equal(fnv1a32("foobar"), 0xbf9cf968);
});

test("bucketOf passes every GrowthBook version-2 vector", () => {
  const v2 = vectors.hash.filter(([, , version]) => version === 2);
  assert.ok(v2.length >= 7, "the vector file holds version-2 cases");
  for (const [seed, unit, , expected] of v2) {
    assert.equal(bucketOf(seed, unit), Math.round((expected as number) * 10_000), `seed=${seed} unit=${unit}`);
  }
});

test("createBucketer equals bucketOf on every vector and on 20k units, including hashes above 2^31", () => {
  for (const [seed, unit, version] of vectors.hash) {
    if (version === 2) assert.equal(createBucketer(seed)(unit), bucketOf(seed, unit), `seed=${seed} unit=${unit}`);
  }
  let high = 0;
  for (const seed of ["", "layer-1", "exp-ß-7"]) {
    const bucketer = createBucketer(seed);
    for (let i = 0; i < 20_000; i++) {
      const unit = `u${i}`;
      if (fnv1a32(seed + unit) >= 2 ** 31) high++;
      assert.equal(bucketer(unit), bucketOf(seed, unit));
    }
  }
  assert.ok(high > 10_000, "inner hashes above 2^31 were covered");
});
