#!/usr/bin/env node
// The `turnout` command's entry: checks the Node version, then loads the TypeScript CLI.
import { nodeFloorProblem } from "./node-floor.js";

const problem = nodeFloorProblem(process.version);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
await import("../src/cli/turnout.ts");
