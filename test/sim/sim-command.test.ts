import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { parseSimArgs, runSimCommand } from "../../src/sim/sim-command.ts";
import { startSimulatorFleet } from "../../src/sim/simulator.ts";
import { get } from "./http-helpers.ts";

/** A free base port with the next `count - 1` ports free too (checked by binding them). */
async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const base = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    if (base + count > 65535) continue;
    const held = [];
    let ok = true;
    for (let i = 0; i < count && ok; i++) {
      const s = createServer();
      ok = await new Promise<boolean>((r) => {
        s.once("error", () => r(false));
        s.listen(base + i, "127.0.0.1", () => r(true));
      });
      if (ok) held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (ok) return base;
  }
  throw new Error("no run of free ports found");
}

test("parses every flag, in both --flag value and --flag=value forms", () => {
  const c = parseSimArgs([
    "--port",
    "0",
    "--host=127.0.0.1",
    "--nodes",
    "3",
    "--models",
    "a:1b, b:2b",
    "--ttft-ms",
    "5",
    "--tokens-per-second=40",
    "--parallel",
    "4",
    "--max-queue",
    "9",
    "--load-ms",
    "100",
    "--keep-alive",
    "10m",
    "--error-rate",
    "0.1",
    "--mid-stream-failure-rate",
    "0.2",
    "--slow-headers-ms",
    "7",
    "--output-tokens",
    "50",
    "--seed",
    "42",
  ]);
  assert.equal(c.nodes, 3);
  assert.equal(c.help, false);
  assert.deepEqual(c.options, {
    port: 0,
    host: "127.0.0.1",
    models: ["a:1b", "b:2b"],
    ttftMs: 5,
    tokensPerSecond: 40,
    parallel: 4,
    maxQueue: 9,
    loadMs: 100,
    keepAlive: "10m",
    errorRate: 0.1,
    midStreamFailureRate: 0.2,
    slowHeadersMs: 7,
    outputTokens: 50,
    seed: 42,
  });
  assert.equal(parseSimArgs(["--keep-alive", "-1"]).options.keepAlive, -1);
  assert.equal(parseSimArgs([]).options.port, 11434);
});

test("names the bad flag in its error", async () => {
  assert.throws(() => parseSimArgs(["--bogus", "1"]), /unknown flag "--bogus"/);
  assert.throws(() => parseSimArgs(["--parallel", "two"]), /--parallel: expected an integer, got "two"/);
  assert.throws(() => parseSimArgs(["--ttft-ms"]), /--ttft-ms needs a value/);
  assert.throws(() => parseSimArgs(["--nodes", "0"]), /--nodes/);
  await assert.rejects(
    runSimCommand(["--port", "0", "--error-rate", "2"], () => {}),
    /--error-rate: errorRate must be between 0 and 1/,
  );
  await assert.rejects(
    runSimCommand(["--port", "0", "--keep-alive", "soon"], () => {}),
    /--keep-alive/,
  );
});

test("durations take the one grammar: MS flags as ms or with a unit, --keep-alive as seconds or with a unit", () => {
  const c = parseSimArgs(["--ttft-ms", "1.5s", "--load-ms=2500us", "--slow-headers-ms", "250", "--keep-alive", "7d"]);
  assert.deepEqual(c.options, {
    port: 11434,
    models: ["qwen3:32b", "qwen3:8b"],
    ttftMs: 1500,
    loadMs: 2.5,
    slowHeadersMs: 250,
    keepAlive: "7d",
  });
  assert.equal(parseSimArgs(["--keep-alive=-1"]).options.keepAlive, -1);
  assert.equal(parseSimArgs(["--keep-alive", "90"]).options.keepAlive, 90);
  assert.throws(
    () => parseSimArgs(["--load-ms", "soon"]),
    /--load-ms: "soon" is not a number of ms or a duration such as "250ms" or "1.5s"/,
  );
  assert.throws(() => parseSimArgs(["--ttft-ms", "-5"]), /--ttft-ms: must not be negative, got "-5"/);
  assert.throws(() => parseSimArgs(["--keep-alive", "soon"]), /--keep-alive: "soon" is not a duration/);
  assert.throws(() => parseSimArgs(["--ttft-ms", "--parallel", "2"]), /--ttft-ms needs a value/);
  assert.throws(() => parseSimArgs(["stray"]), /unexpected argument "stray"/);
});

test("a bad flag is a usage error: exit code 2 and one line naming the flag, no stack trace", async () => {
  const bin = new URL("../../bin/turnout.js", import.meta.url).pathname;
  for (const [args, line] of [
    [["--bogus", "1"], 'turnout sim: unknown flag "--bogus" (see --help)'],
    [["--parallel", "two"], 'turnout sim: flag --parallel: expected an integer, got "two"'],
    [["--port", "0", "--error-rate", "2"], "turnout sim: flag --error-rate: errorRate must be between 0 and 1, got 2"],
  ] as const) {
    const exit = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [bin, "sim", ...args], (_err, stdout, stderr) =>
        resolve({ code: child.exitCode, stdout, stderr }),
      );
    });
    assert.deepEqual(exit, { code: 2, stdout: "", stderr: `${line}\n` }, args.join(" "));
  }
});

test("--help prints the usage and starts nothing", async () => {
  const lines: string[] = [];
  const h = await runSimCommand(["--help"], (l) => lines.push(l));
  assert.match(lines.join("\n"), /--tokens-per-second/);
  await h.close();
});

test("runs N nodes on consecutive ports and prints one line per node", async (t) => {
  const base = await freePortRun(3);
  const lines: string[] = [];
  const h = await runSimCommand(["--port", String(base), "--nodes", "3", "--models", "qwen3:8b,llama3.2:3b"], (l) =>
    lines.push(l),
  );
  t.after(() => h.close());
  assert.deepEqual(
    lines,
    [0, 1, 2].map((i) => `sim node ${i} listening on http://127.0.0.1:${base + i} models: qwen3:8b,llama3.2:3b`),
  );
  for (let i = 0; i < 3; i++) {
    const tags = JSON.parse((await get(`http://127.0.0.1:${base + i}/api/tags`)).text);
    assert.equal(tags.models.length, 2);
  }
});

test("a fleet on port 0 puts every node on its own free port", async (t) => {
  const fleet = await startSimulatorFleet(3, { models: ["qwen3:8b"] });
  t.after(() => fleet.close());
  assert.equal(new Set(fleet.nodes.map((n) => n.port)).size, 3);
  for (const n of fleet.nodes) assert.equal((await get(`${n.url}/`)).text, "Ollama is running");
});
