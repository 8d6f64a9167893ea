import { test } from "node:test";
import assert from "node:assert/strict";
import { firstMissingLine, sectionBlocks } from "./readme-steps.ts";

const readme = [
  "# Title",
  "```sh",
  "echo not in the section",
  "```",
  "## Walkthrough",
  "Some text.",
  "```sh",
  "a=1",
  "echo $a",
  "# 1",
  "echo two \\",
  "  words",
  "# two …",
  "#",
  "",
  "true",
  "```",
  "```json",
  "{}",
  "```",
  "```js",
  "console.log(1);",
  "```",
  "## Next",
  "```sh",
  "echo after the section",
  "```",
].join("\n");

test("the section's sh blocks split into commands and the output lines shown under them", () => {
  const blocks = sectionBlocks(readme, "Walkthrough");
  assert.deepEqual(
    blocks.map((b) => [b.lang, b.line]),
    [
      ["sh", 7],
      ["js", 21],
    ],
  );
  assert.deepEqual(blocks[0]!.steps, [
    { code: "a=1\necho $a", expected: ["1"] },
    { code: "echo two \\\n  words", expected: ["two …", ""] },
    { code: "true", expected: [] },
  ]);
  assert.equal(blocks[1]!.code, "console.log(1);");
});

test("a missing section or an output line with no command before it is an error", () => {
  assert.throws(() => sectionBlocks(readme, "Elsewhere"), /no "## Elsewhere" section/);
  assert.throws(() => sectionBlocks("## W\n```sh\n# out\n```\n", "W"), /output line without a command/);
});

test("expected lines must appear whole and in order, with … standing for any text", () => {
  const output = 'HTTP/1.1 200 OK\r\nx-turnout-variant: qwen3-8b\r\nx-request-id: 3c78-aa\r\n\r\n{"done":true}\n';
  assert.equal(firstMissingLine(["HTTP/1.1 200 OK", "x-request-id: …", '{"done":true}'], output), undefined);
  assert.equal(firstMissingLine(["…", "x-turnout-variant: qwen3-8b"], output), undefined);
  assert.equal(firstMissingLine(["x-turnout-variant: qwen3-32b"], output), "x-turnout-variant: qwen3-32b");
  assert.equal(firstMissingLine(["x-turnout-variant"], output), "x-turnout-variant", "a line matches whole, not a prefix");
  assert.equal(firstMissingLine(["x-request-id: …", "HTTP/1.1 200 OK"], output), "HTTP/1.1 200 OK", "order counts");
  assert.equal(
    firstMissingLine(["x-turnout-variant: (qwen3-8b)"], "x-turnout-variant: qwen3-8b"),
    "x-turnout-variant: (qwen3-8b)",
    "other characters are literal",
  );
});
