import { test } from "node:test";
import assert from "node:assert/strict";
import { attributesOf } from "../../../src/assign/targeting/attributes-of.ts";
import { compileTargeting } from "../../../src/assign/targeting/compile-targeting.ts";

function problems(result: ReturnType<typeof attributesOf>): string[] {
  return result.ok ? [] : result.violations.map((v) => `${v.field}: ${v.message}`);
}

test("headers x-turnout-attr-<name> become string attributes with lower-case names; other headers are ignored", () => {
  const result = attributesOf(
    { "x-turnout-attr-region": "eu", "X-Turnout-Attr-Visits": "3", "x-turnout-user": "alice", host: "h" },
    undefined,
  );
  assert.equal(result.ok, true);
  if (!result.ok) return;
  assert.deepEqual({ ...result.attributes }, { region: "eu", visits: "3" });
  assert.equal(Object.getPrototypeOf(result.attributes), null);
});

test("metadata values keep their JSON types; null means not set", () => {
  const result = attributesOf({}, { plan: "pro", visits: 3, beta: true, gone: null });
  assert.equal(result.ok, true);
  if (result.ok) assert.deepEqual({ ...result.attributes }, { plan: "pro", visits: 3, beta: true });
});

test("numeric-looking header values compare numerically; metadata numbers compare as numbers", () => {
  const returning = compileTargeting({ attr: "visits", gte: 2 });
  const fromHeader = attributesOf({ "x-turnout-attr-visits": "10" }, undefined);
  const fromBody = attributesOf({}, { visits: 10 });
  assert.ok(fromHeader.ok && fromBody.ok);
  assert.equal(returning.matches(fromHeader.attributes, "u"), true, "10 ≥ 2 as numbers, not as text");
  assert.equal(returning.matches(fromBody.attributes, "u"), true);
});

test("a header and metadata may both name an attribute only with the same value", () => {
  const same = attributesOf({ "x-turnout-attr-visits": "3" }, { visits: 3 });
  assert.ok(same.ok);
  assert.equal(same.attributes.visits, 3, "the metadata's typed value is kept");
  assert.deepEqual(problems(attributesOf({ "x-turnout-attr-visits": "3" }, { visits: 4 })), [
    "metadata.visits: differs from header x-turnout-attr-visits",
  ]);
});

test("bad metadata and bad headers are reported, every one, with the key", () => {
  assert.deepEqual(problems(attributesOf({}, [1, 2])), ["metadata: must be a JSON object of strings, numbers and booleans"]);
  assert.deepEqual(problems(attributesOf({}, "region=eu")), ["metadata: must be a JSON object of strings, numbers and booleans"]);
  assert.deepEqual(
    problems(
      attributesOf(
        { "x-turnout-attr-": "x", "x-turnout-attr-a": ["1", "2"] },
        { nested: { a: 1 }, list: [1], "bad key": 1, n: Number.NaN },
      ),
    ),
    [
      "header x-turnout-attr-: the attribute name is empty",
      "header x-turnout-attr-a: must be given once",
      "metadata.nested: must be a string, number or boolean, not object",
      "metadata.list: must be a string, number or boolean, not an array",
      "metadata.bad key: the attribute name may hold only letters, digits, '_', '.', ':' and '-'",
      "metadata.n: must be a finite number",
    ],
  );
});

test("limits on count, name length and value length, with defaults and overrides", () => {
  const many: Record<string, string> = {};
  for (let i = 0; i < 20; i++) many[`x-turnout-attr-h${i}`] = "v";
  const meta: Record<string, number> = {};
  for (let i = 0; i < 13; i++) meta[`m${i}`] = i;
  assert.deepEqual(problems(attributesOf(many, meta)), [
    "attributes: 33 attributes, more than 32 (x-turnout-attr-* headers and metadata together)",
  ]);
  assert.equal(attributesOf(many, { m0: 1 }).ok, true);
  assert.deepEqual(problems(attributesOf({ [`x-turnout-attr-${"n".repeat(65)}`]: "v" }, undefined)), [
    `header x-turnout-attr-${"n".repeat(65)}: the attribute name is longer than 64 characters`,
  ]);
  assert.deepEqual(problems(attributesOf({ "x-turnout-attr-a": "v".repeat(513) }, { b: "w".repeat(513) })), [
    "header x-turnout-attr-a: the value is longer than 512 characters",
    "metadata.b: the value is longer than 512 characters",
  ]);
  assert.deepEqual(
    problems(attributesOf({ "x-turnout-attr-a": "1", "x-turnout-attr-b": "2" }, undefined, { maxAttributes: 1 })),
    ["attributes: 2 attributes, more than 1 (x-turnout-attr-* headers and metadata together)"],
  );
  assert.equal(attributesOf({ "x-turnout-attr-a": "v".repeat(600) }, undefined, { maxValueLength: 1024 }).ok, true);
});

test("no attribute headers and no metadata: an empty set of attributes", () => {
  const result = attributesOf({ "content-type": "application/json" }, undefined);
  assert.ok(result.ok);
  assert.deepEqual(Object.keys(result.attributes), []);
});
