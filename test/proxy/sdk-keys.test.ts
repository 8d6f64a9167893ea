import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import OpenAI, { AuthenticationError, NotFoundError, RateLimitError } from "openai";
import { testKey } from "./client-key-fixture.ts";
import { startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";

const messages = [{ role: "user" as const, content: "hello there" }];

/** The error an `ollama` client call rejected with. */
type OllamaError = { name: string; status_code: number; error: string };

describe("the real openai and ollama clients with client keys required", () => {
  let f: ProxyFixture;
  const openaiKey = testKey();
  const ollamaKey = testKey();
  const fiveOpenai = testKey({ limits: { requestsPerMinute: 5 } });
  const fiveOllama = testKey({ limits: { requestsPerMinute: 5 } });
  const scoped = testKey({ routes: ["other"] });

  before(async () => {
    f = await startProxyFixture({
      sims: [{ models: ["qwen3:32b"], outputTokens: 4 }],
      snapshot: (urls) => ({
        version: 1,
        nodes: [{ id: "n1", url: urls[0] }],
        routes: [
          { name: "qwen3-32b", variants: [{ name: "stable", model: "qwen3:32b" }] },
          { name: "other", variants: [{ name: "o", model: "qwen3:32b" }] },
        ],
        keys: [openaiKey, ollamaKey, fiveOpenai, fiveOllama, scoped].map((k) => k.snapshot),
      }),
      clientAuth: { requireClientKeys: true },
    });
  });
  after(() => f.close());

  const openai = (apiKey: string) => new OpenAI({ baseURL: `${f.proxy.url}/v1`, apiKey, maxRetries: 0 });
  const ollama = (token?: string) =>
    new Ollama({ host: f.proxy.url, headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } });

  it("chat with a key: the openai SDK sends it as its apiKey, ollama as a header", async () => {
    const a = await openai(openaiKey.token).chat.completions.create({ model: "qwen3-32b", messages });
    assert.equal(a.model, "qwen3-32b");
    assert.ok((a.choices[0].message.content ?? "").length > 0);
    const stream = await openai(openaiKey.token).chat.completions.create({ model: "qwen3-32b", messages, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    assert.ok(text.length > 0);
    const b = await ollama(ollamaKey.token).chat({ model: "qwen3-32b", messages });
    assert.equal(b.done, true);
    let parts = 0;
    for await (const _ of await ollama(ollamaKey.token).chat({ model: "qwen3-32b", messages, stream: true })) parts++;
    assert.ok(parts > 1);
    const models = [];
    for await (const m of openai(scoped.token).models.list()) models.push(m.id);
    assert.deepEqual(models, ["other"]);
  });

  it("raise their own 401 error types without a good key", async () => {
    for (const apiKey of ["sk-placeholder", `${openaiKey.token.slice(0, -2)}xx`]) {
      await assert.rejects(openai(apiKey).chat.completions.create({ model: "qwen3-32b", messages }), (err: unknown) => {
        assert.ok(err instanceof AuthenticationError, String(err));
        assert.equal(err.status, 401);
        assert.equal(err.code, "invalid_api_key");
        assert.equal(err.type, "invalid_request_error");
        return true;
      });
    }
    for (const token of [undefined, "nope"]) {
      await assert.rejects(ollama(token).chat({ model: "qwen3-32b", messages }), (err: OllamaError) => {
        assert.equal(err.name, "ResponseError");
        assert.equal(err.status_code, 401);
        assert.match(err.error, token === undefined ? /^missing API key/ : /^invalid API key$/);
        return true;
      });
    }
  });

  it("raise their own not-found error for a route outside the key's scope", async () => {
    await assert.rejects(openai(scoped.token).chat.completions.create({ model: "qwen3-32b", messages }), NotFoundError);
    await assert.rejects(ollama(scoped.token).chat({ model: "qwen3-32b", messages }), (err: OllamaError) => {
      assert.equal(err.status_code, 404);
      assert.equal(err.error, "model 'qwen3-32b' not found");
      return true;
    });
  });

  it("get 429 with Retry-After on the 6th request of a key limited to 5 requests per minute", async () => {
    const client = openai(fiveOpenai.token);
    for (let i = 0; i < 5; i++) {
      const { response } = await client.chat.completions.create({ model: "qwen3-32b", messages }).withResponse();
      assert.equal(response.headers.get("x-ratelimit-limit-requests"), "5");
      assert.equal(response.headers.get("x-ratelimit-remaining-requests"), String(4 - i));
      assert.match(response.headers.get("x-ratelimit-reset-requests") ?? "", /^(\d+m)?\d+(\.\d+)?s$|^\d+ms$/);
    }
    await assert.rejects(client.chat.completions.create({ model: "qwen3-32b", messages }), (err: unknown) => {
      assert.ok(err instanceof RateLimitError, String(err));
      assert.equal(err.status, 429);
      assert.equal(err.code, "rate_limit_exceeded");
      const retry = Number(err.headers.get("retry-after"));
      assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 61, `Retry-After ${retry}`);
      assert.equal(err.headers.get("x-ratelimit-remaining-requests"), "0");
      return true;
    });

    const native = ollama(fiveOllama.token);
    for (let i = 0; i < 5; i++) assert.equal((await native.chat({ model: "qwen3-32b", messages })).done, true);
    await assert.rejects(native.chat({ model: "qwen3-32b", messages }), (err: OllamaError) => {
      assert.equal(err.status_code, 429);
      assert.match(err.error, /^rate limit reached for requests per minute \(limit 5\)/);
      return true;
    });
    // Another key is not affected.
    assert.equal((await ollama(ollamaKey.token).chat({ model: "qwen3-32b", messages })).done, true);
  });
});
