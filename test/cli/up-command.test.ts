import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { startSimulator } from "../../src/sim/simulator.ts";

const cli = new URL("../../src/cli/turnout.ts", import.meta.url).pathname;

interface Running {
  child: ChildProcess;
  traffic: string;
  admin: string;
}

/** Starts `turnout up` with `args`; resolves once it prints its listening line. */
async function up(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [cli, "up", "--port", "0", "--admin-port", "0", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LOG_LEVEL: "silent" },
  });
  let err = "";
  return new Promise((resolve, reject) => {
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
      const m = /turnout up: traffic (\S+)\s+admin (\S+)/.exec(err);
      if (m) resolve({ child, traffic: m[1], admin: m[2] });
    });
    child.once("exit", (code) => reject(new Error(`turnout up exited with ${code}: ${err}`)));
  });
}

async function stop(r: Running): Promise<void> {
  const exited = once(r.child, "exit");
  r.child.kill("SIGTERM");
  await exited;
}

/** A Connect unary call with the JSON codec, as curl would make it. */
async function adminCall(admin: string, method: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${admin}/turnout.v1.AdminService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

test("turnout up loads a config file, serves chats, and a restart keeps admin changes", async () => {
  const sim = await startSimulator({ models: ["qwen3:32b", "qwen3:8b"], ttftMs: 1, tokensPerSecond: 1000 });
  const dir = await mkdtemp(join(tmpdir(), "turnout-up-"));
  const config = join(dir, "turnout.yaml");
  await writeFile(
    config,
    `
nodes:
  - { id: gpu-1, url: "${sim.url}" }
routes:
  - name: qwen3-32b
    default: big
    variants:
      - { name: big, model: "qwen3:32b" }
      - { name: small, model: "qwen3:8b" }
`,
  );
  const args = ["--config", config, "--data-dir", join(dir, "data")];
  try {
    let gw = await up(args);
    const chat = async () => {
      const res = await fetch(`${gw.traffic}/api/chat`, {
        method: "POST",
        body: JSON.stringify({ model: "qwen3-32b", stream: false, messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { model: string; done: boolean };
      assert.equal(body.model, "qwen3-32b");
      assert.equal(body.done, true);
      return res.headers.get("x-turnout-variant");
    };
    assert.equal(await chat(), "big");
    const switched = await adminCall(gw.admin, "SwitchModel", { route: "qwen3-32b", variant: "small" });
    assert.equal(switched.status, 200, JSON.stringify(switched.json));
    const bad = await adminCall(gw.admin, "SwitchModel", { route: "qwen3-32b", variant: "nope" });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, "invalid_argument");
    await stop(gw);

    gw = await up(args);
    const current = await adminCall(gw.admin, "GetCurrentModel", { route: "qwen3-32b" });
    assert.equal(current.json.variant, "small", "the switch survived the restart");
    assert.equal(await chat(), "small");
    await stop(gw);
  } finally {
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("turnout up refuses the seed article's example with a clear error naming alternative-model", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turnout-seed-"));
  try {
    const child = spawn(
      process.execPath,
      [
        cli,
        "up",
        "--port",
        "0",
        "--admin-port",
        "0",
        "--data-dir",
        join(dir, "data"),
        "--config",
        new URL("../control/fixtures/seed-example.yaml", import.meta.url).pathname,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
    const [code] = await once(child, "exit");
    assert.notEqual(code, 0);
    assert.match(err, /routing\.ab_testing\.models\[1\]\.name/);
    assert.match(err, /alternative-model/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("turnout up with no config routes every model of a local Ollama under its own name", async () => {
  const ollama = await startSimulator({ models: ["llama3.2:3b", "qwen3:8b"] });
  const dir = await mkdtemp(join(tmpdir(), "turnout-local-"));
  try {
    const gw = await up(["--data-dir", join(dir, "data"), "--ollama", ollama.url]);
    try {
      const tags = (await (await fetch(`${gw.traffic}/api/tags`)).json()) as { models: { name: string }[] };
      assert.deepEqual(tags.models.map((m) => m.name).sort(), ["llama3.2:3b", "qwen3:8b"]);
      const res = await fetch(`${gw.traffic}/api/generate`, {
        method: "POST",
        body: JSON.stringify({ model: "llama3.2:3b", prompt: "hi", stream: false }),
      });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { model: string }).model, "llama3.2:3b");
    } finally {
      await stop(gw);
    }
  } finally {
    await ollama.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("turnout up with no config and no Ollama starts simulated nodes behind the route qwen3-32b, and again on a restart over the same data dir", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turnout-demo-"));
  try {
    // A closed port stands in for "no Ollama here".
    const gone = await startSimulator({ models: ["x"] });
    await gone.close();
    const chat = async (gw: Running) => {
      const res = await fetch(`${gw.traffic}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "qwen3-32b", messages: [{ role: "user", content: "hi" }] }),
      });
      await res.arrayBuffer();
      return res;
    };
    const args = ["--data-dir", join(dir, "data"), "--ollama", gone.url, "--sim-port", "0"];
    let gw = await up(args);
    try {
      const res = await chat(gw);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-turnout-variant"), "qwen3-32b");
      const current = await adminCall(gw.admin, "GetCurrentModel", { route: "qwen3-32b" });
      assert.equal(current.json.model, "qwen3:32b");
      // an admin change, to see that the restart keeps the stored state
      const switched = await adminCall(gw.admin, "SwitchModel", { route: "qwen3-32b", variant: "qwen3-8b" });
      assert.equal(switched.status, 200, JSON.stringify(switched.json));
    } finally {
      await stop(gw);
    }
    // the second start finds state in the store: the demo's simulators come back on their ports
    gw = await up(args);
    try {
      const res = await chat(gw);
      assert.equal(res.status, 200, "the restarted demo serves");
      assert.equal(res.headers.get("x-turnout-variant"), "qwen3-8b", "the admin change survived");
    } finally {
      await stop(gw);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
