import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import OpenAI, { APIError, NotFoundError } from "openai";
import { startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";

const messages = [{ role: "user" as const, content: "hello there" }];

describe("real ollama and openai clients through the proxy", () => {
  let f: ProxyFixture;
  let ollama: Ollama;
  let openai: OpenAI;

  before(async () => {
    f = await startProxyFixture({
      sims: [{ models: ["qwen3:32b"], outputTokens: 8 }],
      snapshot: (urls) => ({
        version: 1,
        nodes: [{ id: "n1", url: urls[0] }],
        routes: [{ name: "qwen3-32b", variants: [{ name: "stable", model: "qwen3:32b" }] }],
      }),
    });
    ollama = new Ollama({ host: f.proxy.url });
    openai = new OpenAI({ baseURL: `${f.proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(() => f.close());

  it("streams a native chat and answers with the route name, the node seeing the upstream tag", async () => {
    const before = f.sims[0].stats().byModel["qwen3:32b"] ?? 0;
    const stream = await ollama.chat({ model: "qwen3-32b", messages, stream: true });
    let text = "";
    let last;
    for await (const part of stream) {
      assert.equal(part.model, "qwen3-32b");
      text += part.message.content;
      last = part;
    }
    assert.ok(text.length > 0);
    assert.equal(last?.done, true);
    assert.equal(last?.eval_count, 8);
    assert.equal(f.sims[0].stats().byModel["qwen3:32b"], before + 1);
  });

  it("answers a non-streaming native chat", async () => {
    const answer = await ollama.chat({ model: "qwen3-32b", messages });
    assert.equal(answer.model, "qwen3-32b");
    assert.equal(answer.done, true);
    assert.ok(answer.message.content.length > 0);
  });

  it("answers native generate, embed and the tag-less name as name:latest", async () => {
    const gen = await ollama.generate({ model: "qwen3-32b", prompt: "hi" });
    assert.equal(gen.model, "qwen3-32b");
    const embed = await ollama.embed({ model: "qwen3-32b", input: ["a", "b"] });
    assert.equal(embed.model, "qwen3-32b");
    assert.equal(embed.embeddings.length, 2);
    const latest = await ollama.chat({ model: "qwen3-32b:latest", messages });
    assert.equal(latest.done, true);
  });

  it("lists route names in /api/tags and /v1/models", async () => {
    const tags = await ollama.list();
    assert.deepEqual(
      tags.models.map((m) => m.name),
      ["qwen3-32b"],
    );
    const models = [];
    for await (const m of openai.models.list()) models.push(m.id);
    assert.deepEqual(models, ["qwen3-32b"]);
  });

  it("streams an openai chat with minted unique ids and the route name", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const stream = await openai.chat.completions.create({ model: "qwen3-32b", messages, stream: true });
      let text = "";
      let finish: string | null = null;
      const streamIds = new Set<string>();
      for await (const chunk of stream) {
        assert.equal(chunk.model, "qwen3-32b");
        assert.match(chunk.id, /^chatcmpl-[0-9a-z]+$/);
        streamIds.add(chunk.id);
        assert.ok(chunk.choices.length > 0, "the usage frame the proxy asked for is not passed on");
        text += chunk.choices[0].delta.content ?? "";
        finish = chunk.choices[0].finish_reason ?? finish;
      }
      assert.equal(streamIds.size, 1);
      ids.add([...streamIds][0]);
      assert.ok(text.length > 0);
      assert.equal(finish, "stop");
    }
    assert.equal(ids.size, 2);
  });

  it("passes usage on when the openai client asks for it, and counts tokens", async () => {
    const stream = await openai.chat.completions.create({
      model: "qwen3-32b",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.equal(usage?.completion_tokens, 8);
    const outcome = f.outcomes.at(-1);
    assert.equal(outcome?.completionTokens, 8);
    assert.equal(outcome?.status, "ok");
  });

  it("answers a non-streaming openai chat and completion", async () => {
    const answer = await openai.chat.completions.create({ model: "qwen3-32b", messages });
    assert.equal(answer.model, "qwen3-32b");
    assert.match(answer.id, /^chatcmpl-/);
    assert.ok((answer.choices[0].message.content ?? "").length > 0);
    assert.equal(answer.usage?.completion_tokens, 8);
    const completion = await openai.completions.create({ model: "qwen3-32b", prompt: "hi" });
    assert.equal(completion.model, "qwen3-32b");
    assert.match(completion.id, /^cmpl-/);
  });

  it("answers an unknown model with ResponseError 404 and NotFoundError", async () => {
    await assert.rejects(
      ollama.chat({ model: "missing", messages }),
      (err: { name: string; status_code: number; error: string }) => {
        assert.equal(err.name, "ResponseError");
        assert.equal(err.status_code, 404);
        assert.equal(err.error, "model 'missing' not found");
        return true;
      },
    );
    await assert.rejects(openai.chat.completions.create({ model: "missing", messages }), NotFoundError);
  });

  it("carries the variant, snapshot and request id headers, keeping a sane incoming id", async () => {
    const res = await fetch(`${f.proxy.url}/api/chat`, {
      method: "POST",
      headers: { "x-request-id": "req-123" },
      body: JSON.stringify({ model: "qwen3-32b", messages, stream: false }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-turnout-variant"), "stable");
    assert.equal(res.headers.get("x-turnout-snapshot"), "1");
    assert.equal(res.headers.get("x-request-id"), "req-123");
    await res.text();
    const bad = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", headers: { "x-request-id": "bad id\t!" }, body: "{" });
    assert.equal(bad.status, 400);
    assert.notEqual(bad.headers.get("x-request-id"), "bad id\t!");
    assert.ok(bad.headers.get("x-request-id"));
    assert.equal(bad.headers.get("x-turnout-snapshot"), "1");
    await bad.text();
  });

  it("surfaces a mid-stream upstream failure as a thrown error in both clients", async () => {
    f.sims[0].setFaults({ midStreamFailureRate: 1 });
    try {
      await assert.rejects(async () => {
        for await (const part of await ollama.chat({ model: "qwen3-32b", messages, stream: true })) void part;
      });
      await assert.rejects(async () => {
        for await (const chunk of await openai.chat.completions.create({ model: "qwen3-32b", messages, stream: true }))
          void chunk;
      }, APIError);
      const last = f.outcomes.at(-1);
      assert.equal(last?.status, "upstream_failed");
    } finally {
      f.sims[0].setFaults({ midStreamFailureRate: 0 });
    }
  });
});
