/**
 * `turnout experiment …` against a real control plane's admin port: create from a JSON file,
 * start, split (weights, then --rerandomize), get, pause, stop, conclude; bad input is named.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runExperimentCommand } from "../../src/cli/experiment-command.ts";
import { removeDir, startPlane, type Plane } from "../control/admin-harness.ts";
import { experimentState } from "../experiments/experiment-fixtures.ts";

let plane: Plane;
before(async () => {
  plane = await startPlane({ bootstrap: experimentState() });
});
after(async () => {
  await plane.close();
  removeDir(plane.dir);
});

/** Runs the command; answers its exit status and printed lines. */
async function run(...args: string[]): Promise<{ status: number; lines: string[] }> {
  const lines: string[] = [];
  const status = await runExperimentCommand([...args, "--admin", plane.server.url], (l) => lines.push(l));
  return { status, lines };
}

test("create, start, split, get, pause, stop and conclude an experiment from the command line", async () => {
  const file = join(plane.dir, "exp.json");
  writeFileSync(
    file,
    JSON.stringify({
      id: "cli",
      name: "cli test",
      arms: [
        { name: "a", weight: 50 },
        { name: "b", weight: 50 },
      ],
      duration: "24h",
      metrics: ["response_time", "accuracy"],
    }),
  );
  const created = await run("create", file);
  assert.equal(created.status, 0);
  assert.match(created.lines[0], /^cli {2}DRAFT {2}/);
  assert.match(created.lines[0], /route=chat {2}arms=a:50,b:50 {2}duration=24h {2}revision \d+$/);

  const started = await run("start", "cli");
  assert.match(started.lines[0], /RUNNING .*phase 0 \(seed cli:0\) {2}revision \d+ {2}snapshot \d+$/);
  const split = await run("split", "cli", "80,20");
  assert.match(split.lines[0], /arms=a:80,b:20 .*phase 1 \(seed cli:0\)/);
  assert.equal(Number(plane.controlPlane.currentSnapshot().experiments[0].phase), 1);
  const fresh = await run("split", "cli", "--rerandomize");
  assert.match(fresh.lines[0], /arms=a:80,b:20 .*phase 2 \(seed cli:2\)/);

  const got = await run("get", "cli");
  const json = JSON.parse(got.lines.join("\n")) as { phases: { seed: string; weights: number[] }[] };
  assert.deepEqual(
    json.phases.map((p) => [p.seed, p.weights]),
    [
      ["cli:0", [50, 50]],
      ["cli:0", [80, 20]],
      ["cli:2", [80, 20]],
    ],
  );

  assert.match((await run("pause", "cli")).lines[0], /PAUSED/);
  assert.match((await run("list")).lines[0], /^cli {2}.*PAUSED {2}route=chat/);
  assert.match((await run("conclude", "cli", "b")).lines[0], /CONCLUDED/);
  assert.equal(plane.controlPlane.currentSnapshot().routes.find((r) => r.name === "chat")?.defaultVariant, "b");
});

test("bad input names what is wrong", async () => {
  await assert.rejects(run("split", "cli2"), /weights W1,W2,… are required \(or --rerandomize\)/);
  await assert.rejects(run("split", "cli2", "80,x"), /weights\[1\]: "x" is not a number/);
  await assert.rejects(run("start"), /turnout experiment start: an experiment id is required/);
  await assert.rejects(run("conclude", "cli2"), /the winning arm is required/);
  await assert.rejects(run("frobnicate"), /unknown subcommand "frobnicate" \(create, start/);
  const bad = join(plane.dir, "bad.json");
  writeFileSync(bad, "{ not json");
  await assert.rejects(run("create", bad), /bad\.json: not JSON/);
  writeFileSync(bad, JSON.stringify({ name: "x", arms: [{ name: "a", weight: 1 }], colour: "red" }));
  await assert.rejects(run("create", bad), /not an ExperimentService Create request: .*colour/);
  writeFileSync(
    bad,
    JSON.stringify({
      name: "x",
      route: "chat",
      arms: [
        { name: "a", weight: 1 },
        { name: "b", weight: -1 },
      ],
      duration: "24h",
    }),
  );
  await assert.rejects(run("create", bad), /InvalidArgument: .*arms\[1\]\.weight: must be a non-negative number/);
  await assert.rejects(run("stop", "nope"), /NotFound: experiment "nope" does not exist/);
});
