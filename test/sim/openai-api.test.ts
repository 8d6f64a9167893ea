import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { get, post, sseData } from "./http-helpers.ts";

const messages = [{ role: "user", content: "hello" }];

describe("simulator OpenAI-compatible API", () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ models: ["qwen3:32b", "qwen3:8b"], outputTokens: 4 });
  });
  after(() => sim.close());

  test("answers /v1/chat/completions without streaming by default", async () => {
    const a = await post(`${sim.url}/v1/chat/completions`, { model: "qwen3:32b", messages });
    assert.equal(a.status, 200);
    assert.equal(a.contentType, "application/json");
    const body = JSON.parse(a.text);
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.object, "chat.completion");
    assert.equal(body.model, "qwen3:32b");
    assert.equal(body.system_fingerprint, "fp_ollama");
    assert.ok(Number.isInteger(body.created));
    assert.equal(body.choices.length, 1);
    assert.equal(body.choices[0].message.role, "assistant");
    assert.equal(body.choices[0].finish_reason, "stop");
    assert.equal(body.usage.completion_tokens, 4);
    assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + 4);
    const native = JSON.parse((await post(`${sim.url}/api/chat`, { model: "qwen3:32b", messages, stream: false })).text);
    assert.equal(body.choices[0].message.content, native.message.content, "both dialects give the same answer");
  });

  test("streams SSE: role in the first delta, a finish chunk, the usage chunk, then [DONE]", async () => {
    const a = await post(`${sim.url}/v1/chat/completions`, {
      model: "qwen3:8b",
      messages,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 3,
    });
    assert.equal(a.contentType, "text/event-stream");
    const data = sseData(a.text);
    assert.equal(data.at(-1), "[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(chunks.length, 3 + 2);
    const ids = new Set(chunks.map((c) => c.id));
    assert.equal(ids.size, 1);
    for (const c of chunks) assert.equal(c.object, "chat.completion.chunk");
    assert.deepEqual(Object.keys(chunks[0].choices[0].delta), ["role", "content"]);
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    assert.equal(chunks[1].choices[0].delta.role, undefined);
    assert.equal(chunks[0].choices[0].finish_reason, null);
    assert.deepEqual(chunks[3].choices, [{ index: 0, delta: {}, finish_reason: "length" }]);
    assert.deepEqual(chunks[4].choices, []);
    assert.equal(chunks[4].usage.completion_tokens, 3);
  });

  test("streams without a usage chunk unless asked", async () => {
    const data = sseData((await post(`${sim.url}/v1/chat/completions`, { model: "qwen3:8b", messages, stream: true })).text);
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(chunks.length, 4 + 1);
    assert.ok(chunks.every((c) => c.usage === undefined));
  });

  test("answers /v1/completions, streaming and not", async () => {
    const whole = JSON.parse((await post(`${sim.url}/v1/completions`, { model: "qwen3:8b", prompt: "Once" })).text);
    assert.equal(whole.object, "text_completion");
    assert.match(whole.id, /^cmpl-/);
    assert.equal(whole.choices[0].finish_reason, "stop");
    const data = sseData((await post(`${sim.url}/v1/completions`, { model: "qwen3:8b", prompt: "Once", stream: true })).text);
    assert.equal(data.at(-1), "[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(chunks.map((c) => c.choices[0].text).join(""), whole.choices[0].text);
    assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");
  });

  test("answers /v1/embeddings as an OpenAI list", async () => {
    const a = await post(`${sim.url}/v1/embeddings`, { model: "qwen3:8b", input: ["x", "y"] });
    assert.equal(a.status, 200);
    const body = JSON.parse(a.text);
    assert.equal(body.object, "list");
    assert.deepEqual(
      body.data.map((d: { index: number; object: string }) => [d.object, d.index]),
      [
        ["embedding", 0],
        ["embedding", 1],
      ],
    );
    assert.equal(body.data[0].embedding.length, 8);
    const native = JSON.parse((await post(`${sim.url}/api/embed`, { model: "qwen3:8b", input: "x" })).text);
    assert.deepEqual(body.data[0].embedding, native.embeddings[0]);
  });

  test("lists and retrieves models on /v1/models", async () => {
    const list = JSON.parse((await get(`${sim.url}/v1/models`)).text);
    assert.equal(list.object, "list");
    assert.deepEqual(
      list.data.map((m: { id: string }) => m.id),
      ["qwen3:32b", "qwen3:8b"],
    );
    assert.deepEqual(Object.keys(list.data[0]), ["id", "object", "created", "owned_by"]);
    assert.equal(list.data[0].owned_by, "library");
    const one = await get(`${sim.url}/v1/models/qwen3:8b`);
    assert.equal(JSON.parse(one.text).id, "qwen3:8b");
    assert.equal((await get(`${sim.url}/v1/models/nope`)).status, 404);
  });

  test("answers errors with the OpenAI envelope and Ollama's types", async () => {
    const cases: [string, unknown, number, string, string][] = [
      ["/v1/chat/completions", { model: "nope", messages }, 404, "not_found_error", "model 'nope' not found"],
      ["/v1/chat/completions", { model: "qwen3:8b", messages: [] }, 400, "invalid_request_error", "[] is too short - 'messages'"],
      ["/v1/chat/completions", { messages }, 400, "invalid_request_error", "model is required"],
      ["/v1/completions", { model: "nope", prompt: "x" }, 404, "not_found_error", "model 'nope' not found"],
      ["/v1/embeddings", { model: "nope", input: "x" }, 404, "not_found_error", "model 'nope' not found"],
    ];
    for (const [path, body, status, type, message] of cases) {
      const a = await post(sim.url + path, body);
      assert.equal(a.status, status, path);
      assert.deepEqual(JSON.parse(a.text), { error: { message, type, param: null, code: null } });
    }
    const bad = await post(`${sim.url}/v1/chat/completions`, "{oops");
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.text).error.type, "invalid_request_error");
  });
});
