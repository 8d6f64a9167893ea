import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { checkGolden, goldenCases, jsonDifferences, readJsonFile, updatingGolden } from "./golden-files.ts";

/** A temp directory holding `files` (name → contents), removed after the test. */
function dirWith(t: TestContext, files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-golden-files-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

/** The code under test in these tests: doubles every number of the input's `xs`. */
const double = (input: unknown) => ({ ys: (input as { xs: number[] }).xs.map((x) => 2 * x) });

describe("golden directories", () => {
  it("finds every *.in.json as a case, sorted by name, and nothing else", (t) => {
    const dir = dirWith(t, { "b.in.json": "{}", "b.out.json": "{}", "a.in.json": "{}", "README.md": "", "c.json": "{}" });
    assert.deepEqual(
      goldenCases(dir).map((c) => c.name),
      ["a", "b"],
    );
    fs.writeFileSync(path.join(dir, "a-new-case.in.json"), "{}");
    assert.deepEqual(
      goldenCases(dir).map((c) => c.name),
      ["a", "a-new-case", "b"],
      "a new case needs only its file",
    );
    assert.deepEqual(goldenCases(dir)[2], {
      name: "b",
      input: path.join(dir, "b.in.json"),
      output: path.join(dir, "b.out.json"),
    });
  });

  it("refuses an .out.json whose .in.json is gone, and a directory without cases", (t) => {
    assert.throws(
      () => goldenCases(dirWith(t, { "a.in.json": "{}", "renamed.out.json": "{}" })),
      /renamed\.out\.json without a matching \.in\.json/,
    );
    assert.throws(() => goldenCases(dirWith(t, { "notes.json": "{}" })), /no \*\.in\.json case/);
  });

  it("passes an equal output however the file is formatted, and fails a different one listing where", (t) => {
    const dir = dirWith(t, { "x.in.json": '{"xs":[1,2]}', "x.out.json": '{ "ys": [2,\n 4] }' });
    const [c] = goldenCases(dir);
    assert.equal(checkGolden(c, double(readJsonFile(c.input)), false), "same");
    fs.writeFileSync(c.output, '{"ys":[2,5],"zs":1}');
    assert.throws(
      () => checkGolden(c, double(readJsonFile(c.input)), false),
      (err: Error) => {
        assert.ok(err instanceof assert.AssertionError);
        assert.match(err.message, /^golden case "x": the output differs from \S*x\.out\.json/);
        assert.match(err.message, /\n {2}ys\[1\]: actual 4, golden 5\n {2}zs: actual \(absent\), golden 1\n/);
        return true;
      },
    );
  });

  it("fails a case without .out.json unless updating, which writes it, and leaves an equal file alone", (t) => {
    const dir = dirWith(t, { "x.in.json": '{"xs":[3]}' });
    const [c] = goldenCases(dir);
    assert.throws(
      () => checkGolden(c, double(readJsonFile(c.input)), false),
      /golden case "x": .*x\.out\.json does not exist \(run with UPDATE_GOLDEN=1/,
    );
    assert.equal(checkGolden(c, double(readJsonFile(c.input)), true), "written");
    assert.equal(fs.readFileSync(c.output, "utf8"), '{\n  "ys": [\n    6\n  ]\n}\n');
    fs.writeFileSync(c.output, '{"ys":[6]}');
    assert.equal(checkGolden(c, double(readJsonFile(c.input)), true), "same");
    assert.equal(fs.readFileSync(c.output, "utf8"), '{"ys":[6]}', "an equal file is not rewritten");
    fs.writeFileSync(c.output, '{"ys":[7]}');
    assert.equal(checkGolden(c, double(readJsonFile(c.input)), true), "written");
    assert.deepEqual(readJsonFile(c.output), { ys: [6] });
  });

  it("compares what the output serialises to: undefined fields are dropped", (t) => {
    const dir = dirWith(t, { "x.in.json": "{}", "x.out.json": '{"a":1}' });
    assert.equal(checkGolden(goldenCases(dir)[0], { a: 1, b: undefined }, false), "same");
  });

  it("names the file of an .out.json that is not JSON", (t) => {
    const dir = dirWith(t, { "x.in.json": "{}", "x.out.json": "{ not json" });
    assert.throws(() => checkGolden(goldenCases(dir)[0], {}, false), /x\.out\.json: not valid JSON/);
  });

  it("updates only when UPDATE_GOLDEN is set to something other than empty or 0", () => {
    assert.equal(updatingGolden({}), false);
    assert.equal(updatingGolden({ UPDATE_GOLDEN: "" }), false);
    assert.equal(updatingGolden({ UPDATE_GOLDEN: "0" }), false);
    assert.equal(updatingGolden({ UPDATE_GOLDEN: "1" }), true);
  });

  it("lists differences by JSON path: changed, added and removed values, arrays by index", () => {
    assert.deepEqual(jsonDifferences({ a: [1, { b: 2 }], c: "x" }, { a: [1, { b: 3 }, 4], d: null }), [
      "a[1].b: actual 2, golden 3",
      "a[2]: actual (absent), golden 4",
      'c: actual "x", golden (absent)',
      "d: actual (absent), golden null",
    ]);
    assert.deepEqual(jsonDifferences([1], { 0: 1 }), ['(root): actual [1], golden {"0":1}']);
    assert.deepEqual(jsonDifferences({ a: { b: [1] } }, { a: { b: [1] } }), []);
  });
});
