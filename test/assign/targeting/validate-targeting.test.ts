import { test } from "node:test";
import assert from "node:assert/strict";
import { validateTargeting } from "../../../src/assign/targeting/validate-targeting.ts";

function problems(value: unknown): string[] {
  const result = validateTargeting(value);
  return result.ok ? [] : result.violations.map((v) => `${v.field}: ${v.message}`);
}

test("accepts the documented shapes, nested", () => {
  const rule = {
    all: [
      { attr: "region", in: ["eu", "us"] },
      { attr: "visits", gte: 2 },
      { not: { attr: "plan", eq: "free" } },
      {
        any: [
          { attr: "beta", eq: true },
          { attr: "app-version", ne: "1.0" },
          { attr: "tier", notIn: [1, 2] },
        ],
      },
      { attr: "device", exists: true },
      { attr: "score", lt: 0.5 },
      { attr: "age", lte: 30 },
      { attr: "age", gt: 18 },
      { sample: { percent: 12.25, seed: "holdout-1" } },
    ],
  };
  const result = validateTargeting(rule);
  assert.equal(result.ok, true);
  if (result.ok) assert.equal(result.rule, rule);
});

test("reports every problem at once, each with its path", () => {
  assert.deepEqual(
    problems({
      all: [
        { attr: "region", in: [] },
        { attr: "visits", gte: "2" },
        { any: [{ attr: "x", eq: null }, { not: 5 }] },
        { attr: "a b", exists: "yes" },
      ],
    }),
    [
      "targeting.all[0].in: must be a non-empty array of strings, numbers or booleans",
      'targeting.all[1].gte: must be a number, not "2"',
      "targeting.all[2].any[0].eq: must be a string, number or boolean, not null",
      "targeting.all[2].any[1].not: must be an object (a condition, all, any, not or sample), not 5",
      `targeting.all[3].attr: "a b" is not a valid attribute name (letters, digits, '_', '.', ':' and '-')`,
      'targeting.all[3].exists: must be true or false, not "yes"',
    ],
  );
});

test("a condition needs exactly one known operator and an attribute name", () => {
  assert.deepEqual(problems({ attr: "visits" }), ["targeting: needs one operator: eq, ne, in, notIn, lt, lte, gt, gte, exists"]);
  assert.deepEqual(problems({ attr: "visits", gte: 2, lt: 10 }), [
    "targeting: has 2 operators (gte, lt); use one per condition and combine conditions with all",
  ]);
  assert.deepEqual(problems({ attr: "visits", gte: 2, equals: 3 }), [
    "targeting.equals: unknown key (a condition has attr and one of eq, ne, in, notIn, lt, lte, gt, gte, exists)",
  ]);
  assert.deepEqual(problems({ eq: 3 }), ["targeting: must have one of attr, all, any, not, sample (found keys eq)"]);
  assert.deepEqual(problems({ attr: 3, eq: 3 }), ["targeting.attr: must be a non-empty string (the attribute's name)"]);
  assert.deepEqual(problems({ attr: "x".repeat(65), eq: 3 }), ["targeting.attr: must be at most 64 characters"]);
  assert.deepEqual(problems({ attr: "n", gt: Number.POSITIVE_INFINITY }), ["targeting.gt: must be a finite number"]);
  assert.deepEqual(problems({ attr: "n", in: ["a", {}, 2] }), [
    "targeting.in[1]: must be a string, number or boolean, not an object",
  ]);
  assert.deepEqual(problems({ attr: "n", eq: "x".repeat(513) }), ["targeting.eq: must be at most 512 characters"]);
});

test("combinations: non-empty lists, one kind per rule, nothing beside it", () => {
  assert.deepEqual(problems({ all: [] }), ["targeting.all: must be a non-empty array of rules, not an array"]);
  assert.deepEqual(problems({ any: { attr: "x", eq: 1 } }), ["targeting.any: must be a non-empty array of rules, not an object"]);
  assert.deepEqual(problems({ all: [{ attr: "x", eq: 1 }], any: [] }), [
    "targeting: has both all and any; a rule is exactly one of attr, all, any, not, sample",
  ]);
  assert.deepEqual(problems({ not: { attr: "x", eq: 1 }, comment: "hi" }), ["targeting.comment: unknown key beside not"]);
  assert.deepEqual(problems({}), ["targeting: must have one of attr, all, any, not, sample (found an empty object)"]);
  assert.deepEqual(problems([{ attr: "x", eq: 1 }]), [
    "targeting: must be an object (a condition, all, any, not or sample), not an array",
  ]);
  assert.deepEqual(problems(null), ["targeting: must be an object (a condition, all, any, not or sample), not null"]);
});

test("a sample needs a percent from 0 to 100 in steps of 0.01 and a seed of its own", () => {
  assert.deepEqual(problems({ sample: { percent: 101, seed: "" } }), [
    "targeting.sample.percent: must be a number from 0 to 100, not 101",
    "targeting.sample.seed: must be a non-empty string (the sample's own seed)",
  ]);
  assert.deepEqual(problems({ sample: { percent: 0.005, seed: "s" } }), [
    "targeting.sample.percent: must be a multiple of 0.01 (one bucket in 10,000)",
  ]);
  assert.deepEqual(problems({ sample: { percent: 10 } }), [
    "targeting.sample.seed: must be a non-empty string (the sample's own seed)",
  ]);
  assert.deepEqual(problems({ sample: { percent: 10, seed: "s", unit: "user" } }), [
    "targeting.sample.unit: unknown key (a sample has percent and seed)",
  ]);
  assert.deepEqual(problems({ sample: 10 }), ["targeting.sample: must be an object {percent, seed}, not 10"]);
  assert.deepEqual(problems({ sample: { percent: 33.33, seed: "s" } }), []);
});

test("limits: nesting depth and rule count are bounded; the path prefix is the caller's", () => {
  let deep: unknown = { attr: "x", eq: 1 };
  for (let i = 0; i < 16; i++) deep = { not: deep };
  const msgs = problems(deep);
  assert.equal(msgs.length, 1);
  assert.match(msgs[0], /^targeting(\.not){16}: nested more than 16 deep$/);
  const wide = { any: Array.from({ length: 300 }, (_, i) => ({ attr: "x", eq: i })) };
  assert.deepEqual(problems(wide), ["targeting.any[255]: too many rules: at most 256 in one targeting rule"]);
  const result = validateTargeting({ attr: "x", lt: "1" }, "experiments[2].targeting");
  assert.equal(result.ok, false);
  if (!result.ok) assert.equal(result.violations[0].field, "experiments[2].targeting.lt");
});

test("a rule parsed from JSON with a __proto__ key is rejected, not merged into the prototype", () => {
  const parsed = JSON.parse('{"attr":"x","eq":1,"__proto__":{"polluted":true}}');
  assert.deepEqual(problems(parsed), [
    "targeting.__proto__: unknown key (a condition has attr and one of eq, ne, in, notIn, lt, lte, gt, gte, exists)",
  ]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
