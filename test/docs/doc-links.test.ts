import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const pages = [
  "README.md",
  "bench/RESULTS.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/^```[\s\S]*?^```/gm, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)));
}

test("the README is a ten-minute read: at most 250 lines", () => {
  const lines = readFileSync(join(root, "README.md"), "utf8").trimEnd().split("\n").length;
  assert.ok(lines <= 250, `README.md has ${lines} lines`);
});

test("every relative link of the README and the reference pages points at a file and heading that exist", () => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of pages) {
    const file = join(root, page);
    const text = readFileSync(file, "utf8").replace(/^```[\s\S]*?^```/gm, "");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      checked++;
      const [path, fragment] = target!.split("#");
      const linked = path === "" ? file : join(dirname(file), path!);
      if (!existsSync(linked)) broken.push(`${page}: ${target} (no ${relative(root, linked)})`);
      else if (fragment !== undefined && !anchors(linked).has(fragment))
        broken.push(`${page}: ${target} (no heading #${fragment})`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked >= 20, `only ${checked} links found`);
});
