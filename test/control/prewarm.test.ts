import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";
import { warmVariant, type WarmProgress } from "../../src/control/switch/prewarm.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";

async function sims(t: { after(fn: () => Promise<void>): void }, ...models: string[][]): Promise<Simulator[]> {
  const started = await Promise.all(models.map((m) => startSimulator({ models: m, loadMs: 400 })));
  t.after(async () => {
    await Promise.all(started.map((s) => s.close()));
  });
  return started;
}

const nodesOf = (list: Simulator[]) => list.map((s, i) => ({ id: `gpu-${i + 1}`, baseUrl: s.url }));

async function ps(sim: Simulator): Promise<{ name: string; expires_at: string }[]> {
  const res = await request(`${sim.url}/api/ps`);
  return ((await res.body.json()) as { models: { name: string; expires_at: string }[] }).models;
}

function failsWith(code: ErrorCode, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof TurnoutError, `a TurnoutError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

test("warmVariant loads a cold model on every node in parallel and resolves once /api/ps lists it with the keep-alive", async (t) => {
  const list = await sims(t, ["qwen3:32b", "qwen3:8b"], ["qwen3:32b", "qwen3:8b"]);
  assert.ok(
    list.every((s) => !s.isLoaded("qwen3:8b")),
    "cold before",
  );
  const progress: WarmProgress[] = [];
  const started = performance.now();
  await warmVariant({
    nodes: nodesOf(list),
    model: "qwen3:8b",
    keepAlive: "45m",
    timeoutMs: 10_000,
    onProgress: (p) => progress.push(p),
  });
  const took = performance.now() - started;
  assert.ok(
    list.every((s) => s.isLoaded("qwen3:8b")),
    "resident on both nodes",
  );
  assert.ok(
    list.every((s) => !s.isLoaded("qwen3:32b")),
    "nothing else loaded",
  );
  assert.ok(took >= 380, `the warm waited for the 400 ms load (${Math.round(took)} ms)`);
  assert.ok(took < 4_000, `the two loads ran in parallel (${Math.round(took)} ms)`);
  assert.deepEqual(
    progress.filter((p) => p.phase === "warming").map((p) => [p.node, p.index, p.total]),
    [
      ["gpu-1", 1, 2],
      ["gpu-2", 2, 2],
    ],
  );
  const resident = progress.filter((p) => p.phase === "resident");
  assert.deepEqual(resident.map((p) => p.done).sort(), [1, 2]);
  for (const sim of list) {
    const [model] = await ps(sim);
    assert.equal(model.name, "qwen3:8b");
    const left = Date.parse(model.expires_at) - Date.now();
    assert.ok(left > 40 * 60_000 && left <= 45 * 60_000, `kept alive for the 45m asked (${Math.round(left / 60_000)} min left)`);
  }
  // A second warm of a resident model is immediate.
  const again = performance.now();
  await warmVariant({ nodes: nodesOf(list), model: "qwen3:8b", keepAlive: "45m", timeoutMs: 10_000 });
  assert.ok(performance.now() - again < 380, "already resident: no load wait");
});

test("warmVariant sends keep_alive in a form Ollama reads: days as hours, bare numbers as seconds", async (t) => {
  for (const [keepAlive, minutes] of [
    ["7d", 7 * 24 * 60],
    ["600", 10],
  ] as const) {
    const [sim] = await sims(t, ["qwen3:8b"]);
    await warmVariant({ nodes: nodesOf([sim]), model: "qwen3:8b", keepAlive, timeoutMs: 10_000 });
    const [model] = await ps(sim);
    const left = (Date.parse(model.expires_at) - Date.now()) / 60_000;
    assert.ok(left > minutes - 5 && left <= minutes, `kept alive for the ${keepAlive} asked (${Math.round(left)} min left)`);
  }
});

test("warmVariant rejects with FailedPrecondition naming a node that does not have the model", async (t) => {
  const list = await sims(t, ["qwen3:32b", "qwen3:8b"], ["qwen3:32b"]);
  await assert.rejects(
    warmVariant({ nodes: nodesOf(list), model: "qwen3:8b", keepAlive: "30m", timeoutMs: 10_000 }),
    failsWith(ErrorCode.FailedPrecondition, /^node "gpu-2" cannot load model "qwen3:8b": HTTP 404: model 'qwen3:8b' not found/),
  );
  assert.equal(list[0].isLoaded("qwen3:8b"), false, "the other node's load was stopped with the switch");
});

test("warmVariant names an unreachable node, rejects a node that is silent past the timeout, and an abort rejects with aborted", async (t) => {
  const [sim] = await sims(t, ["qwen3:8b"]);
  const closed = await startSimulator({ models: ["qwen3:8b"] });
  const deadUrl = closed.url;
  await closed.close();
  await assert.rejects(
    warmVariant({
      nodes: [
        { id: "gpu-1", baseUrl: sim.url },
        { id: "gpu-dead", baseUrl: deadUrl },
      ],
      model: "qwen3:8b",
      keepAlive: "30m",
      timeoutMs: 10_000,
    }),
    failsWith(ErrorCode.FailedPrecondition, /^node "gpu-dead" cannot load model "qwen3:8b": .*ECONNREFUSED/),
  );

  sim.setFaults({ loadMs: 5_000 });
  await assert.rejects(
    warmVariant({ nodes: [{ id: "gpu-1", baseUrl: sim.url }], model: "qwen3:8b", keepAlive: "30m", timeoutMs: 200 }),
    failsWith(
      ErrorCode.FailedPrecondition,
      /^node "gpu-1" cannot load model "qwen3:8b": http:\/\/\S+\/api\/generate: no answer within 200 ms/,
    ),
  );

  const abort = new AbortController();
  const warming = warmVariant({
    nodes: [{ id: "gpu-1", baseUrl: sim.url }],
    model: "qwen3:8b",
    keepAlive: "30m",
    timeoutMs: 10_000,
    signal: abort.signal,
    onProgress: (p) => {
      if (p.phase === "warming") setImmediate(() => abort.abort());
    },
  });
  await assert.rejects(warming, failsWith(ErrorCode.Aborted, /pre-warm of "qwen3:8b" aborted/));
  assert.equal(sim.isLoaded("qwen3:8b"), false);
});
