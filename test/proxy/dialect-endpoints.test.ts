import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";

describe("Ollama-faithful paths, methods and errors", () => {
  let f: ProxyFixture;
  const post = (path: string, body: string) => fetch(`${f.proxy.url}${path}`, { method: "POST", body });

  before(async () => {
    f = await startProxyFixture({
      sims: [{ models: ["qwen3:32b", "qwen3:8b"] }],
      snapshot: (urls) => ({
        version: 3,
        nodes: [{ id: "n1", url: urls[0] }],
        routes: [
          { name: "qwen3-32b", variants: [{ name: "stable", model: "qwen3:32b", options: { num_predict: 3 }, keepAlive: "-1" }] },
          { name: "small", variants: [{ name: "v", model: "qwen3:8b" }] },
        ],
      }),
    });
  });
  after(() => f.close());

  it("answers / and HEAD / like Ollama", async () => {
    const res = await fetch(`${f.proxy.url}/`);
    assert.equal(await res.text(), "Ollama is running");
    const head = await fetch(`${f.proxy.url}/`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
  });

  it("answers unknown paths with 404 and known paths with the wrong method with 405, with the headers", async () => {
    const missing = await fetch(`${f.proxy.url}/api/nope`);
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), "404 page not found");
    assert.equal(missing.headers.get("x-turnout-snapshot"), "3");
    assert.ok(missing.headers.get("x-request-id"));
    const wrong = await fetch(`${f.proxy.url}/api/chat`);
    assert.equal(wrong.status, 405);
    await wrong.text();
    const wrongTags = await post("/api/tags", "{}");
    assert.equal(wrongTags.status, 405);
    await wrongTags.text();
  });

  it("answers bad JSON, an empty body and a missing model with 400 in each dialect's body", async () => {
    const badJson = await post("/api/chat", "{nope");
    assert.equal(badJson.status, 400);
    assert.match(((await badJson.json()) as { error: string }).error, /invalid JSON/);
    const empty = await post("/api/generate", "");
    assert.deepEqual(await empty.json(), { error: "missing request body" });
    const noModel = await post("/api/chat", "{}");
    assert.deepEqual(await noModel.json(), { error: "model is required" });
    const v1 = await post("/v1/chat/completions", "{}");
    assert.equal(v1.status, 400);
    assert.deepEqual(await v1.json(), {
      error: { message: "model is required", type: "invalid_request_error", param: null, code: null },
    });
  });

  it("applies the variant's options over the client's and forces its keep_alive", async () => {
    const res = await post(
      "/api/chat",
      JSON.stringify({
        model: "qwen3-32b",
        messages: [{ role: "user", content: "hi" }],
        stream: false,
        options: { num_predict: 10 },
        metadata: { app: "x" },
      }),
    );
    const answer = (await res.json()) as { eval_count: number; done_reason: string };
    assert.equal(answer.eval_count, 3);
    const ps = (await (await fetch(`${f.proxy.url}/api/ps`)).json()) as {
      models: { name: string; model: string; expires_at: string }[];
    };
    const entry = ps.models.find((m) => m.name === "qwen3-32b");
    assert.ok(entry, "the route whose model is resident is listed");
    assert.equal(entry.model, "qwen3-32b");
    assert.ok(new Date(entry.expires_at).getFullYear() > new Date().getFullYear() + 10, "keep_alive -1 pins the model");
  });

  it("forwards /api/show and the legacy /api/embeddings with the model rewritten", async () => {
    const show = await post("/api/show", JSON.stringify({ model: "small" }));
    assert.equal(show.status, 200);
    assert.equal(show.headers.get("x-turnout-variant"), "v");
    const details = (await show.json()) as { details?: object };
    assert.ok(details.details);
    const legacy = await post("/api/embeddings", JSON.stringify({ model: "small", prompt: "hi" }));
    assert.equal(legacy.status, 200);
    assert.ok(Array.isArray(((await legacy.json()) as { embedding: number[] }).embedding));
    const v1 = await post("/v1/embeddings", JSON.stringify({ model: "small", input: "hi" }));
    const list = (await v1.json()) as { model: string; data: unknown[] };
    assert.equal(list.model, "small");
    assert.equal(list.data.length, 1);
  });

  it("answers /api/version and /v1/models/{id}", async () => {
    const version = (await (await fetch(`${f.proxy.url}/api/version`)).json()) as { version: string };
    assert.match(version.version, /^\d+\.\d+\.\d+$/);
    const model = (await (await fetch(`${f.proxy.url}/v1/models/small`)).json()) as { id: string; object: string };
    assert.deepEqual([model.id, model.object], ["small", "model"]);
    const missing = await fetch(`${f.proxy.url}/v1/models/nope`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { type: string } }).error.type, "not_found_error");
  });
});
