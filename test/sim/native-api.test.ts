import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { get, ndjson, post } from "./http-helpers.ts";

const NS_FIELDS = ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"];
const user = (content: string) => [{ role: "user", content }];

describe("simulator native API", () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ models: ["qwen3:32b", "qwen3:8b", "nomic-embed-text"], outputTokens: 5 });
  });
  after(() => sim.close());

  test("answers / and /api/version like Ollama, HEAD included", async () => {
    const root = await get(`${sim.url}/`);
    assert.equal(root.status, 200);
    assert.equal(root.text, "Ollama is running");
    assert.match(root.contentType!, /^text\/plain/);
    const head = await get(`${sim.url}/`, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.text, "");
    const v = await get(`${sim.url}/api/version`);
    assert.equal(v.contentType, "application/json; charset=utf-8");
    assert.match(JSON.parse(v.text).version, /^\d+\.\d+\.\d+$/);
    assert.equal((await get(`${sim.url}/api/version`, "HEAD")).status, 200);
  });

  test("streams /api/chat as NDJSON by default, one token a chunk, ending with done and metrics", async () => {
    const a = await post(`${sim.url}/api/chat`, { model: "qwen3:32b", messages: user("hello") });
    assert.equal(a.status, 200);
    assert.equal(a.contentType, "application/x-ndjson");
    const chunks = ndjson(a.text);
    assert.equal(chunks.length, 6);
    for (const c of chunks.slice(0, 5)) {
      assert.deepEqual(Object.keys(c), ["model", "created_at", "message", "done"]);
      assert.equal(c.model, "qwen3:32b");
      assert.ok(!Number.isNaN(Date.parse(c.created_at)));
      assert.equal(c.message.role, "assistant");
      assert.ok(c.message.content.length > 0);
      assert.equal(c.done, false);
    }
    const last = chunks[5]!;
    assert.equal(last.done, true);
    assert.equal(last.done_reason, "stop");
    assert.deepEqual(last.message, { role: "assistant", content: "" });
    for (const f of NS_FIELDS.filter((f) => f !== "load_duration")) assert.ok(Number.isInteger(last[f]) && last[f] > 0, f);
    assert.equal(last.eval_count, 5);
  });

  test("answers stream:false with one JSON object holding the whole answer", async () => {
    const streamed = ndjson((await post(`${sim.url}/api/chat`, { model: "qwen3:32b", messages: user("same") })).text);
    const a = await post(`${sim.url}/api/chat`, { model: "qwen3:32b", messages: user("same"), stream: false });
    assert.equal(a.contentType, "application/json; charset=utf-8");
    const body = JSON.parse(a.text);
    assert.equal(body.done, true);
    assert.equal(body.done_reason, "stop");
    assert.equal(body.message.content, streamed.map((c) => c.message.content).join(""));
    assert.equal(body.eval_count, 5);
  });

  test("streams /api/generate with response chunks and a final context", async () => {
    const a = await post(`${sim.url}/api/generate`, { model: "qwen3:8b", prompt: "Why is the sky blue?" });
    assert.equal(a.contentType, "application/x-ndjson");
    const chunks = ndjson(a.text);
    assert.deepEqual(Object.keys(chunks[0]!), ["model", "created_at", "response", "done"]);
    const last = chunks.at(-1)!;
    assert.equal(last.done, true);
    assert.equal(last.response, "");
    assert.ok(Array.isArray(last.context) && last.context.every(Number.isInteger));
    assert.equal(last.context.length, last.prompt_eval_count + last.eval_count);
  });

  test("num_predict sets the answer length and ends with done_reason length", async () => {
    const chunks = ndjson(
      (await post(`${sim.url}/api/generate`, { model: "qwen3:8b", prompt: "count", options: { num_predict: 3 } })).text,
    );
    assert.equal(chunks.length, 4);
    assert.equal(chunks[3]!.done_reason, "length");
    assert.equal(chunks[3]!.eval_count, 3);
  });

  test("gives the same answer to the same request and different answers to different models or prompts", async () => {
    const text = async (model: string, content: string) =>
      JSON.parse((await post(`${sim.url}/api/chat`, { model, messages: user(content), stream: false })).text).message
        .content as string;
    const a = await text("qwen3:32b", "tell me");
    assert.equal(await text("qwen3:32b", "tell me"), a);
    assert.notEqual(await text("qwen3:8b", "tell me"), a);
    assert.notEqual(await text("qwen3:32b", "tell me more"), a);
  });

  test("embeds deterministically with normalised vectors on /api/embed and /api/embeddings", async () => {
    const a = await post(`${sim.url}/api/embed`, { model: "nomic-embed-text", input: ["a", "b"] });
    assert.equal(a.status, 200);
    const body = JSON.parse(a.text);
    assert.equal(body.model, "nomic-embed-text");
    assert.equal(body.embeddings.length, 2);
    for (const v of body.embeddings) assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4);
    assert.notDeepEqual(body.embeddings[0], body.embeddings[1]);
    assert.ok(body.prompt_eval_count > 0 && body.total_duration > 0);
    const single = JSON.parse((await post(`${sim.url}/api/embed`, { model: "nomic-embed-text", input: "a" })).text);
    assert.deepEqual(single.embeddings[0], body.embeddings[0]);
    const legacy = JSON.parse((await post(`${sim.url}/api/embeddings`, { model: "nomic-embed-text", prompt: "a" })).text);
    assert.deepEqual(Object.keys(legacy), ["embedding"]);
    assert.deepEqual(legacy.embedding, body.embeddings[0]);
  });

  test("lists models on /api/tags with Ollama's fields, and shows one on /api/show", async () => {
    const tags = JSON.parse((await get(`${sim.url}/api/tags`)).text);
    assert.deepEqual(
      tags.models.map((m: { name: string }) => m.name),
      ["qwen3:32b", "qwen3:8b", "nomic-embed-text"],
    );
    const m = tags.models[0];
    assert.deepEqual(Object.keys(m), ["name", "model", "modified_at", "size", "digest", "details"]);
    assert.match(m.digest, /^[0-9a-f]{64}$/);
    assert.equal(m.details.family, "qwen3");
    assert.equal(m.details.parameter_size, "32B");
    const show = await post(`${sim.url}/api/show`, { model: "qwen3:8b" });
    assert.equal(show.status, 200);
    const s = JSON.parse(show.text);
    for (const k of ["modelfile", "parameters", "template", "details", "model_info", "capabilities", "modified_at"])
      assert.ok(k in s, k);
    assert.deepEqual(s.capabilities, ["completion"]);
  });

  test("answers errors with Ollama's statuses and {error} bodies", async () => {
    const cases: [string, unknown, number, string | RegExp][] = [
      ["/api/chat", { model: "missing:1b", messages: user("x") }, 404, "model 'missing:1b' not found"],
      ["/api/generate", { model: "missing:1b", prompt: "x" }, 404, "model 'missing:1b' not found"],
      ["/api/embed", { model: "missing:1b", input: "x" }, 404, "model 'missing:1b' not found"],
      ["/api/show", { model: "missing:1b" }, 404, "model 'missing:1b' not found"],
      ["/api/chat", { messages: user("x") }, 400, "model is required"],
      ["/api/generate", { prompt: "x" }, 400, "model is required"],
      ["/api/chat", "", 400, "missing request body"],
      ["/api/chat", "{not json", 400, /./],
      ["/api/generate", "[1,2]", 400, /cannot unmarshal array/],
      ["/api/chat", { model: "nomic-embed-text", messages: user("x") }, 400, '"nomic-embed-text" does not support chat'],
      ["/api/generate", { model: "nomic-embed-text", prompt: "x" }, 400, '"nomic-embed-text" does not support generate'],
      ["/api/chat", { model: "qwen3:8b", messages: user("x"), keep_alive: "soon" }, 400, /invalid duration/],
    ];
    for (const [path, body, status, message] of cases) {
      const a = await post(sim.url + path, body);
      assert.equal(a.status, status, `${path} ${JSON.stringify(body)}`);
      assert.equal(a.contentType, "application/json; charset=utf-8");
      const parsed = JSON.parse(a.text);
      assert.deepEqual(Object.keys(parsed), ["error"]);
      if (typeof message === "string") assert.equal(parsed.error, message);
      else assert.match(parsed.error, message);
    }
  });

  test("answers 405 to a wrong method and 404 to an unknown path", async () => {
    assert.equal((await get(`${sim.url}/api/chat`)).status, 405);
    assert.equal((await post(`${sim.url}/api/tags`, {})).status, 405);
    assert.equal((await get(`${sim.url}/api/nothing`)).status, 404);
  });

  test("counts requests per model", async () => {
    const before = sim.stats();
    await post(`${sim.url}/api/chat`, { model: "qwen3:8b", messages: user("count me"), stream: false });
    const s = sim.stats();
    assert.equal(s.requests, before.requests + 1);
    assert.equal(s.byModel["qwen3:8b"], before.byModel["qwen3:8b"]! + 1);
    assert.equal(s.inFlight, 0);
  });
});
