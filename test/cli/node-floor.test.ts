import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { promisify } from "node:util";
import { NODE_FLOOR, nodeFloorProblem } from "../../bin/node-floor.js";

const bin = new URL("../../bin/turnout.js", import.meta.url).pathname;

test("the Node floor is the first release of each line that strips types unflagged, as engines says", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { engines: { node: string } };
  assert.equal(pkg.engines.node, NODE_FLOOR);
  for (const ok of ["v22.18.0", "v22.20.1", "v23.6.0", "v24.0.0", "v25.2.1"]) assert.equal(nodeFloorProblem(ok), undefined, ok);
  for (const old of ["v18.20.4", "v20.20.2", "v22.17.1", "v23.5.0"]) {
    const problem = nodeFloorProblem(old);
    assert.ok(problem !== undefined, old);
    assert.match(problem, new RegExp(`^turnout needs Node\\.js 22\\.18 or newer \\(this is ${old.replaceAll(".", "\\.")}\\)`));
    assert.ok(!problem.includes("\n"), "one line");
  }
});

test("the turnout bin runs the CLI on this Node", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [bin, "help"]);
  assert.match(stdout, /^turnout — a control plane for LLM traffic/);
});
