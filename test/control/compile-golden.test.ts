/**
 * Golden cases of compile: each `test/testdata/compile/<case>.in.json` (stored desired state,
 * previous snapshot, clock) must compile to `<case>.out.json` (the RoutingSnapshot as protobuf
 * JSON). `UPDATE_GOLDEN=1 node --test test/control/compile-golden.test.ts` rewrites the outputs.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { RoutingSnapshotSchema, type RoutingSnapshot } from "../../gen/turnout/v1/routing_pb.js";
import { compileSnapshot, desiredOf } from "../../src/control/publish/compile.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { checkGolden, goldenCases, goldenSuite, readJsonFile } from "../support/golden-files.ts";
import { compileInputOf, type CompileInput } from "./compile-case.ts";

/** The compile under test, as publish runs it: a case's input as stored state in, the snapshot out. */
function compile(input: CompileInput): RoutingSnapshot {
  const stored = <T>(value: T) => ({ value, revision: 1 });
  const state = desiredOf({
    nodes: input.nodes.map(stored),
    routes: input.routes.map(stored),
    settings: input.settings && stored(input.settings),
    experiments: input.experiments.map(stored),
  });
  return compileSnapshot(state, input.previous, input.now);
}

const DIR = fileURLToPath(new URL("../testdata/compile/", import.meta.url));

/** A case's output: the compiled snapshot as protobuf JSON, after checking it is consistent. */
function produce(json: unknown, file: string): JsonValue {
  const snapshot = compile(compileInputOf(json, file));
  assert.deepEqual(checkSnapshot(snapshot), [], `${file} compiles to an inconsistent snapshot`);
  return toJson(RoutingSnapshotSchema, snapshot);
}

goldenSuite("compile golden cases (test/testdata/compile)", DIR, (json, c) => produce(json, c.input));

describe("compile golden cases, beyond their files", () => {
  it("has at least 8 cases, among them experiments", () => {
    const cases = goldenCases(DIR);
    assert.ok(cases.length >= 8, `only ${cases.length} cases`);
    const withExperiments = cases.filter(
      (c) => ((readJsonFile(c.output) as { experiments?: unknown[] }).experiments ?? []).length > 0,
    );
    assert.ok(withExperiments.length >= 4, `only ${withExperiments.length} cases compile experiments`);
  });

  it("compiles every case to the same snapshot whatever the order of its nodes, routes and experiments", () => {
    for (const c of goldenCases(DIR)) {
      const input = compileInputOf(readJsonFile(c.input), c.input);
      const reversed: CompileInput = {
        ...input,
        nodes: [...input.nodes].reverse(),
        routes: [...input.routes].reverse(),
        experiments: [...input.experiments].reverse(),
      };
      assert.deepEqual(toJson(RoutingSnapshotSchema, compile(reversed)), toJson(RoutingSnapshotSchema, compile(input)), c.name);
    }
  });

  it("fails on a wrong .out.json with a diff naming the case, and UPDATE_GOLDEN rewrites it", (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-golden-"));
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const original = goldenCases(DIR).find((c) => c.name === "experiment-split-change-same-seed");
    assert.ok(original, "the case the mutations below edit exists");
    const input = readJsonFile(original.input);
    const good = readJsonFile(original.output) as {
      experiments: { arms: { ranges: { start?: number; end: number }[] }[] }[];
      version: string;
    };
    fs.copyFileSync(original.input, path.join(tmp, `${original.name}.in.json`));
    const [c] = goldenCases(tmp);
    // Each mutation of the good output, and the difference the failure must list.
    const mutations: [(out: typeof good) => void, string][] = [
      [
        (out) => (out.experiments[0].arms[1].ranges[0].end = 6001),
        "experiments[0].arms[1].ranges[0].end: actual 6000, golden 6001",
      ],
      [(out) => (out.version = "999"), 'version: actual "53", golden "999"'],
      [(out) => (out.experiments = []), "experiments[0]: actual {"],
      [(out) => Object.assign(out, { unexpected: true }), "unexpected: actual (absent), golden true"],
    ];
    for (const [mutate, listed] of mutations) {
      const wrong = structuredClone(good);
      mutate(wrong);
      fs.writeFileSync(c.output, JSON.stringify(wrong, null, 2));
      assert.throws(
        () => checkGolden(c, produce(input, c.input), false),
        (err: Error) => {
          assert.ok(err instanceof assert.AssertionError, "an assertion fails");
          assert.match(err.message, new RegExp(`^golden case "${c.name}": the output differs from \\S*${c.name}\\.out\\.json`));
          assert.ok(err.message.includes(`\n  ${listed}`), `the failure lists ${listed}:\n${err.message}`);
          assert.ok(err.message.includes("+ actual - expected"), "the failure carries the diff");
          return true;
        },
      );
    }
    assert.equal(checkGolden(c, produce(input, c.input), true), "written");
    assert.deepEqual(readJsonFile(c.output), good, "the rewritten file is the committed golden");
    assert.equal(checkGolden(c, produce(input, c.input), false), "same");
  });
});
