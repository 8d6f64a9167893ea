import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";
import { until } from "../support/until.ts";

const MODEL = "llama3:8b";
const chat = (extra: object = {}) =>
  JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], stream: false, ...extra });

function oneNode(url: string, settings: object) {
  return {
    version: 1,
    nodes: [{ id: "n1", url, maxConcurrent: 1 }],
    routes: [{ name: "m", variants: [{ name: "v", model: MODEL }] }],
    settings: { healthCheck: { disabled: true }, ...settings },
  };
}

/** Opens a stream that holds the node's only slot; resolves once its first chunk arrived. */
async function holdSlot(f: ProxyFixture, tokens: number) {
  const res = await fetch(`${f.proxy.url}/api/chat`, {
    method: "POST",
    body: chat({ stream: true, options: { num_predict: tokens } }),
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  await reader.read();
  return {
    drain: async () => {
      while (!(await reader.read()).done);
    },
  };
}

async function queued(f: ProxyFixture): Promise<number> {
  const text = await (await fetch(`${f.proxy.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith('turnout_proxy_node_queued_requests{node="n1"}'));
  return Number(line?.split(" ").at(-1));
}

describe("the bounded wait for a slot when every node of the variant is full", () => {
  it("a request that finds the node full waits and takes the slot when it frees", async () => {
    const f = await startProxyFixture({
      sims: [{ models: [MODEL], tokensPerSecond: 50, parallel: 4 }],
      snapshot: (urls) => oneNode(urls[0], { queue: { maxWaitMs: 10_000 } }),
    });
    try {
      const held = await holdSlot(f, 15);
      const waiting = fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat() });
      await until("the request to queue", async () => (await queued(f)) === 1);
      assert.equal(f.sims[0].stats().requests, 1, "the queued request has not reached the node");
      await held.drain();
      const res = await waiting;
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { done: boolean }).done, true);
      assert.equal(await queued(f), 0);
      assert.equal(f.sims[0].stats().requests, 2);
    } finally {
      await f.close();
    }
  });

  it("answers the dialect's 503 with Retry-After once the wait is over, and at once when the queue is full", async () => {
    const f = await startProxyFixture({
      sims: [{ models: [MODEL], tokensPerSecond: 20, parallel: 4 }],
      snapshot: (urls) => oneNode(urls[0], { queue: { maxWaitMs: 400, maxLength: 1 } }),
    });
    try {
      const held = await holdSlot(f, 60);
      const started = performance.now();
      const waiting = fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat() });
      await until("the request to queue", async () => (await queued(f)) === 1);
      // The queue holds one: the next request is refused at once, in the /v1 dialect's shape.
      const refused = await fetch(`${f.proxy.url}/v1/chat/completions`, { method: "POST", body: chat() });
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get("retry-after"), "1");
      assert.deepEqual(await refused.json(), {
        error: {
          message: "server busy, please try again.  maximum pending requests exceeded",
          type: "api_error",
          param: null,
          code: null,
        },
      });

      const res = await waiting;
      const waited = performance.now() - started;
      assert.equal(res.status, 503);
      assert.equal(res.headers.get("retry-after"), "1");
      assert.deepEqual(await res.json(), { error: "server busy, please try again.  maximum pending requests exceeded" });
      assert.ok(waited >= 350, `waited ${waited.toFixed(0)} ms, the configured wait is 400 ms`);
      assert.equal(f.sims[0].stats().requests, 1, "neither request reached the node");
      assert.equal(await queued(f), 0);
      await held.drain();
    } finally {
      await f.close();
    }
  });

  it("takes a client that leaves while waiting out of the queue", async () => {
    const f = await startProxyFixture({
      sims: [{ models: [MODEL], tokensPerSecond: 50, parallel: 4 }],
      snapshot: (urls) => oneNode(urls[0], { queue: { maxWaitMs: 10_000 } }),
    });
    try {
      const held = await holdSlot(f, 15);
      const controller = new AbortController();
      const leaving = fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat(), signal: controller.signal }).catch(
        (err: Error) => err,
      );
      await until("the request to queue", async () => (await queued(f)) === 1);
      controller.abort();
      assert.ok((await leaving) instanceof Error);
      await until("the queue to empty", async () => (await queued(f)) === 0);
      await until("the client_gone outcome", async () => f.outcomes.some((o) => o.status === "client_gone"));
      await held.drain();
      // The freed slot is not taken by the request that left: the next one gets it.
      const res = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat() });
      assert.equal(res.status, 200);
      await res.json();
      assert.equal(f.sims[0].stats().requests, 2);
    } finally {
      await f.close();
    }
  });

  it("serves queued requests in arrival order", async () => {
    const f = await startProxyFixture({
      sims: [{ models: [MODEL], tokensPerSecond: 50, parallel: 4 }],
      snapshot: (urls) => oneNode(urls[0], { queue: { maxWaitMs: 10_000 } }),
    });
    try {
      const held = await holdSlot(f, 10);
      const order: number[] = [];
      const waiting: Promise<void>[] = [];
      for (let i = 0; i < 4; i++) {
        waiting.push(
          fetch(`${f.proxy.url}/api/chat`, {
            method: "POST",
            body: chat({ messages: [{ role: "user", content: `q${i}` }] }),
          }).then(async (res) => {
            assert.equal(res.status, 200);
            await res.json();
            order.push(i);
          }),
        );
        await until(`request ${i} to queue`, async () => (await queued(f)) === i + 1);
      }
      await held.drain();
      await Promise.all(waiting);
      assert.deepEqual(order, [0, 1, 2, 3]);
    } finally {
      await f.close();
    }
  });
});

describe("the total timeout", () => {
  it("ends a stream past it with the dialect's in-band error and a whole answer with a 504", async () => {
    const f = await startProxyFixture({
      sims: [{ models: [MODEL], tokensPerSecond: 10 }],
      snapshot: (urls) => ({ ...oneNode(urls[0], { totalTimeoutMs: 400 }), nodes: [{ id: "n1", url: urls[0] }] }),
    });
    try {
      const native = await fetch(`${f.proxy.url}/api/chat`, {
        method: "POST",
        body: chat({ stream: true, options: { num_predict: 50 } }),
      });
      assert.equal(native.status, 200);
      const lines = (await native.text())
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { error?: string; done?: boolean });
      assert.equal(lines.at(-1)?.error, "request exceeded the total timeout");
      assert.ok(lines.length > 1 && !lines.some((l) => l.done === true));

      const sse = await fetch(`${f.proxy.url}/v1/chat/completions`, {
        method: "POST",
        body: chat({ stream: true, max_tokens: 50 }),
      });
      const frames = (await sse.text()).trim().split("\n\n");
      assert.equal(
        frames.at(-1),
        'data: {"error":{"message":"request exceeded the total timeout","type":"api_error","param":null,"code":null}}',
      );

      const whole = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat({ options: { num_predict: 50 } }) });
      assert.equal(whole.status, 504);
      assert.deepEqual(await whole.json(), { error: "request exceeded the total timeout" });
      assert.equal(f.outcomes.filter((o) => o.status === "upstream_failed").length, 2);
      // A timeout is the request's, not the node's: it stays in rotation.
      const metrics = await (await fetch(`${f.proxy.url}/metrics`)).text();
      assert.match(metrics, /turnout_proxy_node_healthy\{node="n1"\} 1/);
    } finally {
      await f.close();
    }
  });
});
