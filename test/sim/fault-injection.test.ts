import { test } from "node:test";
import assert from "node:assert/strict";
import { startSimulator } from "../../src/sim/simulator.ts";
import { post, sseData } from "./http-helpers.ts";

const chat = (extra: Record<string, unknown> = {}) => ({
  model: "qwen3:8b",
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});

test("errorRate 1 fails every inference request with a 500 before the first byte, in each dialect", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:8b"], errorRate: 1 });
  t.after(() => sim.close());
  const native = await post(`${sim.url}/api/chat`, chat());
  assert.equal(native.status, 500);
  assert.equal(native.contentType, "application/json; charset=utf-8");
  assert.equal(typeof JSON.parse(native.text).error, "string");
  const v1 = await post(`${sim.url}/v1/chat/completions`, chat({ stream: true }));
  assert.equal(v1.status, 500);
  assert.deepEqual(Object.keys(JSON.parse(v1.text).error), ["message", "type", "param", "code"]);
  assert.equal(JSON.parse(v1.text).error.type, "api_error");
  assert.equal(sim.stats().injectedErrors, 2);
  sim.setFaults({ errorRate: 0 });
  assert.equal((await post(`${sim.url}/api/chat`, chat())).status, 200);
});

test("a mid-stream failure sends some chunks, then one in-band error line, and no done chunk", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:8b"], midStreamFailureRate: 1, outputTokens: 10 });
  t.after(() => sim.close());
  const a = await post(`${sim.url}/api/chat`, chat());
  assert.equal(a.status, 200);
  const lines = a.text
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
  const last = lines.at(-1)!;
  assert.deepEqual(Object.keys(last), ["error"]);
  assert.ok(lines.length >= 2, "at least one content chunk first");
  assert.ok(lines.slice(0, -1).every((l) => l.done === false));

  const sse = sseData((await post(`${sim.url}/v1/chat/completions`, chat({ stream: true }))).text);
  const err = JSON.parse(sse.at(-1)!);
  assert.equal(err.error.type, "api_error");
  assert.ok(!sse.includes("[DONE]"));

  const whole = await post(`${sim.url}/api/chat`, chat({ stream: false }));
  assert.equal(whole.status, 200, "non-streaming answers are not cut");
});

test("the same seed gives the same faults for the same request order", async (t) => {
  const outcomes = async (seed: number) => {
    const sim = await startSimulator({ models: ["qwen3:8b"], errorRate: 0.4, midStreamFailureRate: 0.4, seed });
    t.after(() => sim.close());
    const out: string[] = [];
    for (let i = 0; i < 30; i++) {
      const a = await post(`${sim.url}/api/chat`, chat());
      out.push(a.status !== 200 ? String(a.status) : a.text.includes('"error"') ? "mid" : "ok");
    }
    return out;
  };
  const a = await outcomes(7);
  assert.deepEqual(await outcomes(7), a);
  assert.notDeepEqual(await outcomes(8), a);
  assert.ok(a.includes("500") && a.includes("mid") && a.includes("ok"), a.join(","));
});

test("slowHeadersMs and ttftMs delay the headers; tokensPerSecond paces the chunks", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:8b"], slowHeadersMs: 60, ttftMs: 30, tokensPerSecond: 50, outputTokens: 6 });
  t.after(() => sim.close());
  await post(`${sim.url}/api/generate`, { model: "qwen3:8b" }); // load first
  const start = performance.now();
  const res = await fetch(`${sim.url}/api/chat`, { method: "POST", body: JSON.stringify(chat()) });
  const headersAfter = performance.now() - start;
  const text = await res.text();
  const total = performance.now() - start;
  assert.ok(headersAfter >= 85, `headers after ${headersAfter} ms`);
  // 5 gaps of 20 ms after the first token; unpaced they would take ~0 ms. The client may read the
  // headers late on a loaded machine while the simulator keeps its schedule, so allow 40 ms of that.
  assert.ok(total - headersAfter >= 60, `6 tokens at 50/s span ~100 ms, got ${total - headersAfter}`);
  const last = JSON.parse(text.trimEnd().split("\n").at(-1)!);
  assert.ok(last.prompt_eval_duration >= 85e6);
  assert.ok((last.eval_count / last.eval_duration) * 1e9 < 70, "tokens/s from the metrics matches the pace");
});
