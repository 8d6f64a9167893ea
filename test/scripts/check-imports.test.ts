import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { findImportCycles } from "../../scripts/check-imports.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/check-imports.ts", import.meta.url));

/** Writes `files` (path → text) into a fresh temporary folder, removed after the test. */
function tree(t: { after: (fn: () => void) => void }, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "turnout-imports-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test("reports a circle through a type-only import across folders as a path", (t) => {
  const root = tree(t, {
    "a/one.ts": 'import { two } from "../b/two.ts";\nexport const one = two;\n',
    "b/two.ts": 'import type { Three } from "./three.ts";\nexport const two: Three = 2;\n',
    "b/three.ts": 'export type { One } from "../a/one-type.ts";\nimport "../a/one.ts";\nexport type Three = number;\n',
    "a/one-type.ts": "export type One = 1;\n",
    "c.ts": 'import { one } from "./a/one.ts";\nexport const c = one;\n',
  });
  assert.deepEqual(findImportCycles(root), [["a/one.ts", "b/two.ts", "b/three.ts", "a/one.ts"]]);
});

test("reports each circle of a tangle, and a file importing itself", (t) => {
  const root = tree(t, {
    "a.ts": 'import "./b.ts";\nimport "./c.ts";\n',
    "b.ts": 'import type { A } from "./a.ts";\n',
    "c.ts": 'export * from "./a.ts";\n',
    "d.ts": 'export { d } from "./d.ts";\n',
  });
  assert.deepEqual(findImportCycles(root), [
    ["a.ts", "b.ts", "a.ts"],
    ["a.ts", "c.ts", "a.ts"],
    ["d.ts", "d.ts"],
  ]);
});

test("finds no circle in an acyclic tree, nor in imports that only comments and strings mention", (t) => {
  const root = tree(t, {
    "a.ts": 'import { b } from "./b.ts";\nimport { c } from "./sub/c.ts";\nexport const a = b + c;\n',
    "b.ts": 'import { c } from "./sub/c.ts";\n// import { a } from "./a.ts";\nexport const b = c;\n',
    "sub/c.ts":
      'import type { Pool } from "undici";\n/** import("../a.ts") */\nexport const c = 1;\nexport const s = \'import "../a.ts"\';\nexport type P = Pool;\n',
  });
  assert.deepEqual(findImportCycles(root), []);
});

test("the script exits 1 and prints the circle; 0 on an acyclic tree", async (t) => {
  const cyclic = tree(t, { "x.ts": 'import "./y.ts";\n', "y.ts": 'import "./x.ts";\n' });
  const failed = await promisify(execFile)(process.execPath, [SCRIPT, cyclic]).then(
    () => assert.fail("the script passed a tree with a circle"),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(failed.code, 1);
  const circle = [join(cyclic, "x.ts"), join(cyclic, "y.ts"), join(cyclic, "x.ts")].join(" → ");
  assert.ok(failed.stderr.includes(circle), failed.stderr);
  const acyclic = tree(t, { "x.ts": 'import "./y.ts";\n', "y.ts": "export {};\n" });
  const passed = await promisify(execFile)(process.execPath, [SCRIPT, acyclic]);
  assert.match(passed.stdout, /no import circle/);
});
