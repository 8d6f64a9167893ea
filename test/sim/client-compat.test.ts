import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";

const messages = [{ role: "user" as const, content: "Which way does the turnout go?" }];

describe("the real client libraries against the simulator", () => {
  let sim: Simulator;
  let ollama: Ollama;
  let openai: OpenAI;
  before(async () => {
    sim = await startSimulator({ models: ["qwen3:32b", "qwen3:8b"], outputTokens: 6, tokensPerSecond: 2000 });
    ollama = new Ollama({ host: sim.url });
    openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: "x", maxRetries: 0 });
  });
  after(() => sim.close());

  test("ollama-js chats without streaming", async () => {
    const r = await ollama.chat({ model: "qwen3:32b", messages });
    assert.equal(r.model, "qwen3:32b");
    assert.equal(r.done, true);
    assert.equal(r.done_reason, "stop");
    assert.equal(r.message.role, "assistant");
    assert.ok(r.message.content.length > 0);
    assert.equal(r.eval_count, 6);
  });

  test("ollama-js streams a chat to its done chunk with the same text", async () => {
    const whole = await ollama.chat({ model: "qwen3:32b", messages });
    let text = "";
    let last;
    for await (const part of await ollama.chat({ model: "qwen3:32b", messages, stream: true })) {
      text += part.message.content;
      last = part;
    }
    assert.equal(text, whole.message.content);
    assert.equal(last?.done, true);
  });

  test("ollama-js generates, embeds, lists and shows", async () => {
    const g = await ollama.generate({ model: "qwen3:8b", prompt: "hi" });
    assert.ok((g.response ?? "").length > 0);
    const e = await ollama.embed({ model: "qwen3:8b", input: ["a", "b"] });
    assert.equal(e.embeddings.length, 2);
    const list = await ollama.list();
    assert.deepEqual(
      list.models.map((m) => m.name),
      ["qwen3:32b", "qwen3:8b"],
    );
    const ps = await ollama.ps();
    assert.ok(ps.models.some((m) => m.name === "qwen3:8b"));
    const show = await ollama.show({ model: "qwen3:8b" });
    assert.equal(show.details.family, "qwen3");
  });

  test("ollama-js throws ResponseError 404 for an unknown model", async () => {
    await assert.rejects(ollama.chat({ model: "nope:1b", messages }), (err: Error & { status_code?: number }) => {
      assert.equal(err.name, "ResponseError");
      assert.equal(err.status_code, 404);
      assert.equal(err.message, "model 'nope:1b' not found");
      return true;
    });
  });

  test("openai chats without streaming", async () => {
    const r = await openai.chat.completions.create({ model: "qwen3:32b", messages });
    assert.equal(r.object, "chat.completion");
    assert.equal(r.choices[0]!.message.role, "assistant");
    assert.equal(r.choices[0]!.finish_reason, "stop");
    assert.equal(r.usage?.completion_tokens, 6);
    const native = await ollama.chat({ model: "qwen3:32b", messages });
    assert.equal(r.choices[0]!.message.content, native.message.content);
  });

  test("openai streams a chat with usage", async () => {
    const stream = await openai.chat.completions.create({
      model: "qwen3:8b",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish: string | null = null;
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    assert.ok(text.length > 0);
    assert.equal(finish, "stop");
    assert.equal(usage?.completion_tokens, 6);
  });

  test("openai completes, embeds and lists models", async () => {
    const c = await openai.completions.create({ model: "qwen3:8b", prompt: "Once" });
    assert.ok(c.choices[0]!.text.length > 0);
    const e = await openai.embeddings.create({ model: "qwen3:8b", input: "x" });
    assert.equal(e.data[0]!.embedding.length, 8);
    const ids: string[] = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ["qwen3:32b", "qwen3:8b"]);
  });

  test("openai throws NotFoundError for an unknown model", async () => {
    await assert.rejects(openai.chat.completions.create({ model: "nope:1b", messages }), (err: Error) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.status, 404);
      assert.match(err.message, /model 'nope:1b' not found/);
      return true;
    });
  });

  test("a mid-stream failure makes both clients throw, never a silent truncation", async (t) => {
    sim.setFaults({ midStreamFailureRate: 1 });
    t.after(() => sim.setFaults({ midStreamFailureRate: 0 }));
    await assert.rejects(async () => {
      for await (const _ of await ollama.chat({ model: "qwen3:8b", messages, stream: true })) void _;
    }, /simulated failure/);
    await assert.rejects(
      async () => {
        const stream = await openai.chat.completions.create({ model: "qwen3:8b", messages, stream: true });
        for await (const _ of stream) void _;
      },
      (err: Error) => {
        assert.ok(err instanceof OpenAI.APIError);
        assert.match(err.message, /simulated failure/);
        return true;
      },
    );
  });

  test("an injected 500 reaches both clients as an error", async (t) => {
    sim.setFaults({ errorRate: 1 });
    t.after(() => sim.setFaults({ errorRate: 0 }));
    await assert.rejects(
      ollama.chat({ model: "qwen3:8b", messages }),
      (err: Error & { status_code?: number }) => err.status_code === 500,
    );
    await assert.rejects(
      openai.chat.completions.create({ model: "qwen3:8b", messages }),
      (err: Error) => err instanceof OpenAI.InternalServerError,
    );
  });
});
