import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import type { SimEvent } from "../../src/sim/simulator.ts";
import { RUNNER_OPTIONS } from "../../src/proxy/routing/normalize-options.ts";
import { startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";

type RequestEvent = Extract<SimEvent, { type: "request" }>;

/** What a client tries to smuggle in: every runner option, plus sampling options that must pass. */
const CLIENT_OPTIONS = {
  num_ctx: 131072,
  num_batch: 1024,
  num_gpu: 99,
  main_gpu: 1,
  use_mmap: false,
  use_mlock: true,
  num_thread: 64,
  low_vram: true,
  f16_kv: false,
  logits_all: true,
  vocab_only: true,
  numa: true,
  temperature: 0.2,
  top_p: 0.9,
  seed: 7,
  num_predict: 3,
};
const SAMPLING = { temperature: 0.2, top_p: 0.9, seed: 7, num_predict: 3 };

describe("options normalised per variant", () => {
  let f: ProxyFixture;
  const seen: RequestEvent[] = [];

  before(async () => {
    f = await startProxyFixture({
      sims: [{ models: ["llama3:8b", "qwen3:8b"] }],
      snapshot: (urls) => ({
        version: 1,
        nodes: [{ id: "n1", url: urls[0] }],
        routes: [
          { name: "pinned", variants: [{ name: "p", model: "llama3:8b", options: { num_ctx: 8192 }, keepAlive: "30m" }] },
          { name: "plain", variants: [{ name: "q", model: "qwen3:8b" }] },
        ],
      }),
    });
    f.sims[0].subscribe((e) => {
      if (e.type === "request") seen.push(e);
    });
  });
  after(() => f.close());

  async function post(path: string, payload: object): Promise<RequestEvent> {
    const before = seen.length;
    const res = await fetch(`${f.proxy.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.text();
    assert.equal(seen.length, before + 1);
    return seen.at(-1)!;
  }

  it("a client's num_ctx (and every other runner option) never reaches the node; sampling options pass", async () => {
    const messages = [{ role: "user", content: "hi" }];
    for (const [path, payload] of [
      ["/api/chat", { model: "plain", messages, stream: false, options: CLIENT_OPTIONS }],
      ["/api/generate", { model: "plain", prompt: "hi", stream: true, options: CLIENT_OPTIONS }],
      ["/api/embed", { model: "plain", input: "hi", options: CLIENT_OPTIONS }],
      ["/v1/chat/completions", { model: "plain", messages, options: CLIENT_OPTIONS }],
    ] as const) {
      const e = await post(path, payload);
      assert.equal(e.path, path);
      for (const key of RUNNER_OPTIONS) assert.equal(key in e.options, false, `${path}: ${key} reached the node`);
      assert.deepEqual(e.options, SAMPLING, path);
    }
  });

  it("the variant's own options win and its keep_alive is forced, in both HTTP dialects", async () => {
    const messages = [{ role: "user", content: "hi" }];
    const native = await post("/api/chat", { model: "pinned", messages, stream: false, keep_alive: 0, options: CLIENT_OPTIONS });
    assert.deepEqual(native.options, { ...SAMPLING, num_ctx: 8192 });
    assert.equal(native.keepAlive, "30m");
    const v1 = await post("/v1/chat/completions", { model: "pinned", messages, keep_alive: "0s" });
    assert.equal(v1.keepAlive, "30m", "a /v1 request cannot carry a keep_alive other than the variant's");
    const plainV1 = await post("/v1/chat/completions", { model: "plain", messages });
    assert.equal(plainV1.keepAlive, undefined, "without a variant keep_alive the proxy adds none");
  });

  it("a Connect ChatService call gets the same treatment", async () => {
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "1.1" }));
    const before = seen.length;
    for await (const _ of client.chat({ model: "pinned", messages: [{ role: "user", content: "hi" }], options: CLIENT_OPTIONS }));
    assert.equal(seen.length, before + 1);
    const e = seen.at(-1)!;
    assert.deepEqual(e.options, { ...SAMPLING, num_ctx: 8192 });
    assert.equal(e.keepAlive, "30m");
  });
});
