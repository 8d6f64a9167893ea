/**
 * Golden files as a directory: every `<case>.in.json` in a directory is one case, and
 * `<case>.out.json` beside it holds the output the code under test must produce for it. A new
 * case is a new pair of files, no code. Outputs are compared as parsed JSON (so reformatting a
 * file changes nothing); a difference fails with a diff naming the case. With `UPDATE_GOLDEN=1`
 * in the environment the `.out.json` files are (re)written instead — read what changed before
 * committing it.
 */
import assert, { AssertionError } from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { isDeepStrictEqual } from "node:util";

const IN = ".in.json";
const OUT = ".out.json";

/** One case of a golden directory. */
export interface GoldenCase {
  /** The file name without `.in.json`, e.g. "experiment-layers". */
  readonly name: string;
  /** Path of `<name>.in.json`. */
  readonly input: string;
  /** Path of `<name>.out.json` (it may not exist yet). */
  readonly output: string;
}

/** What {@link checkGolden} did. */
export type GoldenResult = "same" | "written";

/** True when `UPDATE_GOLDEN` is set to anything but "" or "0". */
export function updatingGolden(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.UPDATE_GOLDEN;
  return v !== undefined && v !== "" && v !== "0";
}

/**
 * The cases of `dir`, sorted by name. Throws when the directory holds no case, or an
 * `.out.json` whose `.in.json` is missing (a renamed or deleted case must take its output along).
 */
export function goldenCases(dir: string): GoldenCase[] {
  const files = fs.readdirSync(dir);
  const orphans = files.filter((f) => f.endsWith(OUT) && !files.includes(f.slice(0, -OUT.length) + IN));
  if (orphans.length > 0) throw new Error(`${dir}: ${orphans.join(", ")} without a matching ${IN} (remove it or add the input)`);
  const cases = files
    .filter((f) => f.endsWith(IN))
    .map((f) => f.slice(0, -IN.length))
    .sort()
    .map((name) => ({ name, input: path.join(dir, name + IN), output: path.join(dir, name + OUT) }));
  if (cases.length === 0) throw new Error(`${dir}: no *${IN} case`);
  return cases;
}

/** The parsed contents of the JSON file at `file`; the error names the file. */
export function readJsonFile(file: string): unknown {
  const text = fs.readFileSync(file, "utf8");
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new Error(`${file}: not valid JSON (${(cause as Error).message})`, { cause });
  }
}

function writeJsonFile(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Compares `actual` (any JSON-serialisable value; fields that serialise to nothing are dropped)
 * with the case's `.out.json`. With `update`, writes the file when it is missing or differs and
 * answers "written"; without, a missing file or a difference throws an AssertionError whose
 * message names the case and the file and carries the diff (+ actual, − expected).
 */
export function checkGolden(c: GoldenCase, actual: unknown, update: boolean = updatingGolden()): GoldenResult {
  const plain: unknown = JSON.parse(JSON.stringify(actual));
  const exists = fs.existsSync(c.output);
  const file = path.relative(process.cwd(), c.output);
  if (update) {
    if (exists && isDeepStrictEqual(plain, readJsonFile(c.output))) return "same";
    writeJsonFile(c.output, plain);
    return "written";
  }
  if (!exists)
    throw new AssertionError({
      message: `golden case "${c.name}": ${file} does not exist (run with UPDATE_GOLDEN=1 to write it, then read it)`,
    });
  const expected = readJsonFile(c.output);
  try {
    assert.deepStrictEqual(plain, expected);
  } catch (err) {
    if (!(err instanceof AssertionError)) throw err;
    const differences = jsonDifferences(plain, expected);
    const listed = differences.slice(0, MAX_LISTED).map((d) => `  ${d}`);
    if (differences.length > MAX_LISTED) listed.push(`  … and ${differences.length - MAX_LISTED} more`);
    const message = [
      `golden case "${c.name}": the output differs from ${file} (if the change is intended, rerun with UPDATE_GOLDEN=1 and read the diff):`,
      ...listed,
      err.message,
    ].join("\n");
    throw new AssertionError({ message });
  }
  return "same";
}

/** Most differences {@link checkGolden} lists by path before the diff. */
const MAX_LISTED = 10;

/** Longest value shown in a listed difference. */
const MAX_SHOWN = 120;

function show(value: unknown): string {
  if (value === undefined) return "(absent)";
  const text = JSON.stringify(value);
  return text.length <= MAX_SHOWN ? text : `${text.slice(0, MAX_SHOWN - 1)}…`;
}

/**
 * Where two JSON values differ, as `path: actual <actual>, golden <expected>` (path like
 * `experiments[1].arms[0].ranges`), depth first in key order.
 */
export function jsonDifferences(actual: unknown, expected: unknown, at = ""): string[] {
  const bothArrays = Array.isArray(actual) && Array.isArray(expected);
  const bothObjects = !Array.isArray(actual) && !Array.isArray(expected) && isObject(actual) && isObject(expected);
  if (bothArrays) {
    const out: string[] = [];
    for (let i = 0; i < Math.max(actual.length, expected.length); i++)
      out.push(...jsonDifferences(actual[i], expected[i], `${at}[${i}]`));
    return out;
  }
  if (bothObjects) {
    const keys = [...new Set([...Object.keys(actual), ...Object.keys(expected)])].sort();
    return keys.flatMap((k) => jsonDifferences(actual[k], expected[k], at === "" ? k : `${at}.${k}`));
  }
  return isDeepStrictEqual(actual, expected) ? [] : [`${at || "(root)"}: actual ${show(actual)}, golden ${show(expected)}`];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object";
}

/**
 * Registers a `describe(title)` with one test per case of `dir`: `produce` turns the parsed
 * `.in.json` into the output, which {@link checkGolden} compares with (or, updating, writes to)
 * the `.out.json`.
 */
export function goldenSuite(title: string, dir: string, produce: (input: unknown, c: GoldenCase) => unknown): void {
  describe(title, () => {
    for (const c of goldenCases(dir)) {
      it(c.name, async (t) => {
        const result = checkGolden(c, await produce(readJsonFile(c.input), c));
        if (result === "written") t.diagnostic(`wrote ${c.output}`);
      });
    }
  });
}
