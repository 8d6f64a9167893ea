import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ChatService, type ChatDone } from "../../gen/turnout/v1/chat_pb.js";
import { until } from "../support/until.ts";
import { bearer, testKey, type TestKey } from "./client-key-fixture.ts";
import { startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";

const messages = [{ role: "user", content: "hi" }];

async function post(f: ProxyFixture, path: string, body: object, key: TestKey, signal?: AbortSignal) {
  const res = await fetch(`${f.proxy.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer(key) },
    body: JSON.stringify(body),
    signal,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}

const chat = (extra: object = {}) => ({ model: "r", messages, stream: false, ...extra });

describe("per-key limits on one proxy", () => {
  let f: ProxyFixture;
  const rpm = testKey({ limits: { requestsPerMinute: 3 } });
  const rpmOpenAi = testKey({ limits: { requestsPerMinute: 2 } });
  const rpmConnect = testKey({ limits: { requestsPerMinute: 1 } });
  const tpm = testKey({ limits: { tokensPerMinute: 10 } });
  const concurrent = testKey({ limits: { maxConcurrent: 1 } });
  const capped = testKey({ limits: { maxTokensPerRequest: 2 } });

  before(async () => {
    f = await startProxyFixture({
      // Prompts of 1 token ("hi"), answers of 4 unless num_predict/max_tokens says less.
      sims: [{ models: ["m:1b"], outputTokens: 4 }],
      snapshot: (urls) => ({
        version: 1,
        nodes: [{ id: "n1", url: urls[0] }],
        routes: [{ name: "r", variants: [{ name: "v", model: "m:1b" }] }],
        keys: [rpm, rpmOpenAi, rpmConnect, tpm, concurrent, capped].map((k) => k.snapshot),
      }),
      clientAuth: { requireClientKeys: true },
    });
  });
  after(() => f.close());

  it("says the limits on every answer of the key, a 404 included, and refuses past requests_per_minute with Retry-After", async () => {
    const missing = await post(f, "/api/chat", { ...chat(), model: "nope" }, rpm);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("x-ratelimit-limit-requests"), "3");
    assert.equal(missing.headers.get("x-ratelimit-remaining-requests"), "3", "a refused request is not counted");
    for (let i = 0; i < 3; i++) {
      const r = await post(f, "/api/chat", chat(), rpm);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("x-ratelimit-remaining-requests"), String(2 - i));
      assert.equal(r.headers.get("x-ratelimit-limit-tokens"), null, "no tokens limit, no tokens headers");
    }
    const over = await post(f, "/api/chat", chat(), rpm);
    assert.equal(over.status, 429);
    assert.deepEqual(Object.keys(over.body), ["error"]);
    assert.match(over.body.error, /^rate limit reached for requests per minute \(limit 3\); retry in /);
    assert.ok(Number(over.headers.get("retry-after")) >= 1);
    assert.ok(Number(over.headers.get("retry-after-ms")) >= 1);
    assert.equal(over.headers.get("x-ratelimit-remaining-requests"), "0");
  });

  it("answers OpenAI's rate_limit_exceeded error on /v1", async () => {
    for (let i = 0; i < 2; i++) assert.equal((await post(f, "/v1/chat/completions", chat(), rpmOpenAi)).status, 200);
    const over = await post(f, "/v1/chat/completions", chat(), rpmOpenAi);
    assert.equal(over.status, 429);
    assert.equal(over.body.error.type, "requests");
    assert.equal(over.body.error.code, "rate_limit_exceeded");
    assert.equal(over.body.error.param, null);
  });

  it("answers resource_exhausted on Connect, with the headers", async () => {
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    let headers: Headers | undefined;
    for await (const _ of client.chat({ model: "r", messages }, { headers: bearer(rpmConnect), onHeader: (h) => (headers = h) }));
    assert.equal(headers?.get("x-ratelimit-remaining-requests"), "0");
    await assert.rejects(
      async () => {
        for await (const _ of client.chat({ model: "r", messages }, { headers: bearer(rpmConnect) }));
      },
      (err: unknown) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.code, Code.ResourceExhausted);
        assert.ok(Number(err.metadata.get("retry-after")) >= 1);
        return true;
      },
    );
  });

  it("refuses past tokens_per_minute once the answers' tokens are counted", async () => {
    const first = await post(f, "/api/chat", chat(), tpm);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("x-ratelimit-limit-tokens"), "10");
    assert.equal(first.headers.get("x-ratelimit-remaining-tokens"), "10", "counted when it ends");
    const used = first.body.prompt_eval_count + first.body.eval_count;
    assert.ok(used > 0 && used < 10, `${used} tokens`);
    const second = await post(f, "/api/chat", chat(), tpm);
    assert.equal(second.status, 200);
    assert.equal(second.headers.get("x-ratelimit-remaining-tokens"), String(10 - used));
    const over = await post(f, "/v1/chat/completions", chat(), tpm);
    assert.equal(over.status, 429);
    assert.equal(over.body.error.type, "tokens");
    assert.match(over.body.error.message, /^rate limit reached for tokens per minute \(limit 10\)/);
    assert.equal(over.headers.get("x-ratelimit-remaining-tokens"), "0");
  });

  it("holds max_concurrent while a request is in flight, and frees it when it ends", async () => {
    f.sims[0].setFaults({ tokensPerSecond: 20 });
    const controller = new AbortController();
    try {
      const started = f.sims[0].waitFor("headers");
      const held = fetch(`${f.proxy.url}/api/chat`, {
        method: "POST",
        headers: bearer(concurrent),
        body: JSON.stringify({ model: "r", messages, stream: true, options: { num_predict: 1000 } }),
        signal: controller.signal,
      })
        .then((res) => res.text())
        .catch(() => "");
      await started;
      const over = await post(f, "/api/chat", chat(), concurrent);
      assert.equal(over.status, 429);
      assert.match(over.body.error, /^too many requests in flight for this API key \(limit 1\)/);
      const outcomes = f.outcomes.length;
      controller.abort();
      await held;
      await until("the held request to end on the proxy", () =>
        f.outcomes.slice(outcomes).some((o) => o.status === "client_gone"),
      );
    } finally {
      f.sims[0].setFaults({ tokensPerSecond: 0 });
    }
    assert.equal((await post(f, "/api/chat", chat(), concurrent)).status, 200);
  });

  it("clamps the generation length to max_tokens_per_request in every dialect", async () => {
    const native = async (body: object) => (await post(f, "/api/chat", chat(body), capped)).body.eval_count;
    assert.equal(await native({}), 2, "none asked: the cap");
    assert.equal(await native({ options: { num_predict: 100 } }), 2);
    assert.equal(await native({ options: { num_predict: -1 } }), 2, "unbounded: the cap");
    assert.equal(await native({ options: { num_predict: 1 } }), 1, "below the cap: kept");
    const generate = await post(f, "/api/generate", { model: "r", prompt: "hi", stream: false }, capped);
    assert.equal(generate.body.eval_count, 2);
    const v1 = async (body: object) => (await post(f, "/v1/chat/completions", chat(body), capped)).body.usage.completion_tokens;
    assert.equal(await v1({}), 2);
    assert.equal(await v1({ max_tokens: 50 }), 2);
    assert.equal(await v1({ max_completion_tokens: 50 }), 2);
    assert.equal(await v1({ max_tokens: 1 }), 1);
    const completions = await post(f, "/v1/completions", { model: "r", prompt: "hi", max_tokens: 9 }, capped);
    assert.equal(completions.body.usage.completion_tokens, 2);
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    let done: ChatDone | undefined;
    for await (const res of client.chat({ model: "r", messages, options: { num_predict: 50 } }, { headers: bearer(capped) }))
      if (res.event.case === "done") done = res.event.value;
    assert.equal(done?.completionTokens, 2);
  });
});
