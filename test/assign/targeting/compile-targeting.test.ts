import { test } from "node:test";
import assert from "node:assert/strict";
import { compileTargeting } from "../../../src/assign/targeting/compile-targeting.ts";
import type { Attributes, TargetingRule } from "../../../src/assign/targeting/rule.ts";
import { TurnoutError } from "../../../src/errors.ts";

function attrs(record: Record<string, string | number | boolean>): Attributes {
  return record;
}

/** Each row: attributes, then whether the rule matches them. */
function truthTable(rule: TargetingRule, rows: [Attributes, boolean][]): void {
  const compiled = compileTargeting(rule);
  for (const [attributes, expected] of rows) {
    assert.equal(compiled.matches(attributes, "u1"), expected, `${JSON.stringify(rule)} on ${JSON.stringify(attributes)}`);
  }
}

test("eq and ne: same type matches, numeric and boolean strings match by value, a mismatch or absence does not", () => {
  truthTable({ attr: "region", eq: "eu" }, [
    [attrs({ region: "eu" }), true],
    [attrs({ region: "EU" }), false],
    [attrs({ region: "us" }), false],
    [attrs({}), false],
    [attrs({ region: 1 }), false],
    [attrs({ region: true }), false],
  ]);
  truthTable({ attr: "visits", eq: 2 }, [
    [attrs({ visits: 2 }), true],
    [attrs({ visits: "2" }), true],
    [attrs({ visits: "2.0" }), true],
    [attrs({ visits: "2e0" }), true],
    [attrs({ visits: "0x2" }), false],
    [attrs({ visits: " 2" }), false],
    [attrs({ visits: 3 }), false],
    [attrs({ visits: true }), false],
    [attrs({}), false],
  ]);
  truthTable({ attr: "returning", eq: true }, [
    [attrs({ returning: true }), true],
    [attrs({ returning: "true" }), true],
    [attrs({ returning: "True" }), false],
    [attrs({ returning: "1" }), false],
    [attrs({ returning: 1 }), false],
    [attrs({ returning: false }), false],
    [attrs({ returning: "false" }), false],
  ]);
  truthTable({ attr: "visits", eq: "2" }, [
    [attrs({ visits: "2" }), true],
    [attrs({ visits: 2 }), false], // a number attribute is never read as text
  ]);
  // ne is exactly not eq, so it matches an absent attribute and one of another type.
  truthTable({ attr: "region", ne: "eu" }, [
    [attrs({ region: "eu" }), false],
    [attrs({ region: "us" }), true],
    [attrs({}), true],
    [attrs({ region: 3 }), true],
  ]);
});

test("in and notIn: membership over mixed strings, numbers and booleans", () => {
  truthTable({ attr: "region", in: ["eu", "us"] }, [
    [attrs({ region: "eu" }), true],
    [attrs({ region: "us" }), true],
    [attrs({ region: "apac" }), false],
    [attrs({}), false],
  ]);
  truthTable({ attr: "tier", in: [1, 3, "gold", false] }, [
    [attrs({ tier: 3 }), true],
    [attrs({ tier: "3" }), true],
    [attrs({ tier: "gold" }), true],
    [attrs({ tier: false }), true],
    [attrs({ tier: "false" }), true],
    [attrs({ tier: 2 }), false],
    [attrs({ tier: true }), false],
    [attrs({ tier: "silver" }), false],
  ]);
  truthTable({ attr: "region", notIn: ["eu", "us"] }, [
    [attrs({ region: "eu" }), false],
    [attrs({ region: "apac" }), true],
    [attrs({}), true],
  ]);
});

test("numeric comparisons read numbers and numeric-looking strings; anything else never matches", () => {
  const values: [Attributes, number | undefined][] = [
    [attrs({ n: 1 }), 1],
    [attrs({ n: 2 }), 2],
    [attrs({ n: 3 }), 3],
    [attrs({ n: "2" }), 2],
    [attrs({ n: "-1.5" }), -1.5],
    [attrs({ n: ".5" }), 0.5],
    [attrs({ n: "two" }), undefined],
    [attrs({ n: "" }), undefined],
    [attrs({ n: true }), undefined],
    [attrs({}), undefined],
  ];
  const ops = { lt: (a: number) => a < 2, lte: (a: number) => a <= 2, gt: (a: number) => a > 2, gte: (a: number) => a >= 2 };
  for (const [op, expected] of Object.entries(ops)) {
    const rule = { attr: "n", [op]: 2 } as TargetingRule;
    truthTable(
      rule,
      values.map(([a, v]) => [a, v !== undefined && expected(v)]),
    );
  }
  // not(lt) is not gte for a value that is not a number: both are false for "two".
  const notLt = compileTargeting({ not: { attr: "n", lt: 2 } });
  const gte = compileTargeting({ attr: "n", gte: 2 });
  assert.equal(notLt.matches({ n: "two" }), true);
  assert.equal(gte.matches({ n: "two" }), false);
});

test("exists: true for a present attribute of any type (even empty), false for an absent one", () => {
  truthTable({ attr: "plan", exists: true }, [
    [attrs({ plan: "pro" }), true],
    [attrs({ plan: "" }), true],
    [attrs({ plan: 0 }), true],
    [attrs({ plan: false }), true],
    [attrs({ other: "x" }), false],
  ]);
  truthTable({ attr: "plan", exists: false }, [
    [attrs({ plan: "pro" }), false],
    [attrs({}), true],
  ]);
});

test("all, any and not combine and nest: full truth table over three conditions", () => {
  // (a ∧ (b ∨ ¬c))
  const rule: TargetingRule = {
    all: [{ attr: "a", eq: true }, { any: [{ attr: "b", eq: true }, { not: { attr: "c", eq: true } }] }],
  };
  const compiled = compileTargeting(rule);
  for (let bits = 0; bits < 8; bits++) {
    const a = (bits & 1) !== 0;
    const b = (bits & 2) !== 0;
    const c = (bits & 4) !== 0;
    assert.equal(compiled.matches({ a, b, c }), a && (b || !c), `a=${a} b=${b} c=${c}`);
  }
  // Double negation and deep nesting.
  const deep = compileTargeting({
    not: {
      not: {
        any: [
          {
            all: [
              { attr: "x", gt: 1 },
              { attr: "x", lt: 5 },
            ],
          },
          { attr: "y", exists: true },
        ],
      },
    },
  });
  assert.equal(deep.matches({ x: 3 }), true);
  assert.equal(deep.matches({ x: 7 }), false);
  assert.equal(deep.matches({ x: 7, y: "" }), true);
  assert.deepEqual(deep.attributes, ["x", "y"]);
});

test("prototype names are not attributes: a plain object's inherited members never match", () => {
  const compiled = compileTargeting({
    any: [
      { attr: "constructor", exists: true },
      { attr: "toString", exists: true },
    ],
  });
  assert.equal(compiled.matches({}), false);
  assert.equal(compiled.matches({ constructor: "x" } as Attributes), true);
});

test("the seed's cases: new vs returning users and region", () => {
  const returning = compileTargeting({ attr: "visits", gte: 2 });
  const fresh = compileTargeting({
    any: [
      { attr: "visits", exists: false },
      { attr: "visits", lt: 2 },
    ],
  });
  const eu = compileTargeting({ attr: "region", in: ["eu-west", "eu-central"] });
  const euReturning = compileTargeting({
    all: [
      { attr: "region", in: ["eu-west", "eu-central"] },
      { attr: "visits", gte: 2 },
    ],
  });
  const users: { attributes: Attributes; returning: boolean; eu: boolean }[] = [
    { attributes: { visits: "1", region: "eu-west" }, returning: false, eu: true }, // from headers: strings
    { attributes: { visits: 5, region: "us-east" }, returning: true, eu: false }, // from metadata: typed
    { attributes: { region: "eu-central" }, returning: false, eu: true },
    { attributes: { visits: "12" }, returning: true, eu: false },
  ];
  for (const u of users) {
    assert.equal(returning.matches(u.attributes, "unit"), u.returning);
    assert.equal(fresh.matches(u.attributes, "unit"), !u.returning, "new is exactly not returning");
    assert.equal(eu.matches(u.attributes, "unit"), u.eu);
    assert.equal(euReturning.matches(u.attributes, "unit"), u.eu && u.returning);
  }
});

test("pure random: a sample takes ≈ its percentage of 100k units, stickily, and none without a unit", () => {
  const sample = compileTargeting({ sample: { percent: 12.5, seed: "holdout-1" } });
  const other = compileTargeting({ sample: { percent: 12.5, seed: "holdout-2" } });
  const n = 100_000;
  let hits = 0;
  let both = 0;
  for (let i = 0; i < n; i++) {
    const unit = `user-${i}`;
    const a = sample.matches({}, unit);
    if (a) hits++;
    if (a && other.matches({}, unit)) both++;
  }
  // Binomial sd at p=0.125, n=100k is ~105 units; allow 5 sd.
  assert.ok(Math.abs(hits - 12_500) < 525, `sample took ${hits} of ${n}`);
  // A different seed is an independent draw: the overlap ≈ 12.5% × 12.5%.
  assert.ok(Math.abs(both - 1562.5) < 200, `two samples overlap on ${both} units`);
  assert.equal(sample.matches({}, "user-7"), sample.matches({}, "user-7"));
  assert.equal(sample.matches({}, undefined), false);
  assert.equal(sample.matches({}, ""), false);
  assert.equal(sample.usesUnit, true);
  assert.equal(compileTargeting({ sample: { percent: 100, seed: "s" } }).matches({}, "anyone"), true);
  assert.equal(compileTargeting({ sample: { percent: 0, seed: "s" } }).matches({}, "anyone"), false);
});

test("no rule matches everyone; an invalid rule does not compile and the error names every field", () => {
  assert.equal(compileTargeting(undefined).matches({}), true);
  assert.throws(
    () =>
      compileTargeting({
        all: [
          { attr: "visits", gte: "2" },
          { attr: "", eq: 1 },
        ],
      } as unknown as TargetingRule),
    (err: unknown) =>
      err instanceof TurnoutError &&
      err.code === "invalid_argument" &&
      err.message ===
        'targeting.all[0].gte: must be a number, not "2"; targeting.all[1].attr: must be a non-empty string (the attribute\'s name)',
  );
});
