import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import type { SimEvent } from "../../src/sim/simulator.ts";
import { startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";

type RequestEvent = Extract<SimEvent, { type: "request" }>;

/** A variant's keep_alive (Turnout's grammar) → what the node must receive (Ollama's). */
const FORWARDED: [string, string | number][] = [
  ["7d", "168h"],
  ["1d12h", "36h"],
  ["1.5", "1.5s"],
  ["300", 300],
  ["-1", -1],
  ["-7d", -1],
  ["45m", "45m"],
];

describe("a variant's keep_alive reaches the node in a form Ollama reads", () => {
  let f: ProxyFixture;
  const seen: RequestEvent[] = [];

  before(async () => {
    f = await startProxyFixture({
      sims: [{ models: ["qwen3:8b"] }],
      snapshot: (urls) => ({
        version: 1,
        nodes: [{ id: "n1", url: urls[0] }],
        routes: FORWARDED.map(([keepAlive], i) => ({ name: `r${i}`, variants: [{ name: "v", model: "qwen3:8b", keepAlive }] })),
      }),
    });
    f.sims[0].subscribe((e) => {
      if (e.type === "request") seen.push(e);
    });
  });
  after(() => f.close());

  it("over the native and OpenAI dialects, and the node accepts it", async () => {
    for (const [i, [keepAlive, sent]] of FORWARDED.entries()) {
      for (const [path, body] of [
        ["/api/chat", { model: `r${i}`, messages: [{ role: "user", content: "hi" }], stream: false }],
        ["/v1/chat/completions", { model: `r${i}`, messages: [{ role: "user", content: "hi" }] }],
      ] as const) {
        const before = seen.length;
        const res = await fetch(`${f.proxy.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        assert.equal(res.status, 200, `${keepAlive} on ${path}: ${await res.clone().text()}`);
        await res.text();
        assert.equal(seen.length, before + 1);
        assert.deepEqual(seen.at(-1)!.keepAlive, sent, `${keepAlive} on ${path}`);
      }
    }
  });

  it("over Connect", async () => {
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "1.1" }));
    for (const [i, [keepAlive, sent]] of FORWARDED.entries()) {
      const before = seen.length;
      for await (const _ of client.chat({ model: `r${i}`, messages: [{ role: "user", content: "hi" }] }));
      assert.equal(seen.length, before + 1);
      assert.deepEqual(seen.at(-1)!.keepAlive, sent, keepAlive);
    }
  });
});
