import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deadUrl, startProxyFixture } from "./proxy-harness.ts";
import { until } from "../support/until.ts";

const chat = (extra: object = {}) =>
  JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], stream: false, ...extra });

function oneRoute(nodes: { id: string; url: string; maxConcurrent?: number }[], settings?: object) {
  return { version: 1, nodes, routes: [{ name: "m", variants: [{ name: "v", model: "llama3:8b" }] }], settings };
}

describe("node choice and upstream forwarding", () => {
  it("retries once on another node when a node refuses the connection", async () => {
    const dead = await deadUrl();
    const f = await startProxyFixture({
      sims: [{ models: ["llama3:8b"] }],
      snapshot: (urls) =>
        oneRoute([
          { id: "dead", url: dead },
          { id: "live", url: urls[0] },
        ]),
    });
    try {
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat() });
        assert.equal(res.status, 200);
        await res.json();
      }
      assert.ok(f.outcomes.every((o) => o.node === "live" && o.status === "ok"));
      assert.equal(f.sims[0].stats().requests, 20);
    } finally {
      await f.close();
    }
  });

  it("answers 502 in the dialect's body when the only node is down", async () => {
    const dead = await deadUrl();
    const f = await startProxyFixture({ sims: [], snapshot: () => oneRoute([{ id: "dead", url: dead }]) });
    try {
      const res = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat() });
      assert.equal(res.status, 502);
      assert.match(((await res.json()) as { error: string }).error, /upstream unavailable/);
      const v1 = await fetch(`${f.proxy.url}/v1/chat/completions`, { method: "POST", body: chat() });
      assert.equal(v1.status, 502);
      assert.equal(((await v1.json()) as { error: { type: string } }).error.type, "api_error");
    } finally {
      await f.close();
    }
  });

  it("retries a 503 answered before the first byte on another node", async () => {
    const f = await startProxyFixture({
      sims: [{ models: ["llama3:8b"], maxQueue: 0 }, { models: ["llama3:8b"] }],
      snapshot: (urls) =>
        oneRoute([
          { id: "busy", url: urls[0] },
          { id: "ok", url: urls[1] },
        ]),
    });
    try {
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat() });
        assert.equal(res.status, 200);
        await res.json();
      }
      assert.ok(f.sims[0].stats().busy > 0, "the busy node was tried");
      assert.ok(f.outcomes.every((o) => o.node === "ok"));
    } finally {
      await f.close();
    }
  });

  it("respects max_concurrent: with the slot queue off a full node answers 503 with Retry-After until a slot frees", async () => {
    const f = await startProxyFixture({
      sims: [{ models: ["llama3:8b"], tokensPerSecond: 50, parallel: 4 }],
      snapshot: (urls) => oneRoute([{ id: "n1", url: urls[0], maxConcurrent: 1 }], { queue: { disabled: true } }),
    });
    try {
      const first = await fetch(`${f.proxy.url}/api/chat`, {
        method: "POST",
        body: chat({ stream: true, options: { num_predict: 10 } }),
      });
      assert.equal(first.status, 200);
      const reader = first.body!.getReader();
      await reader.read(); // the first request holds the node's only slot
      const second = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat() });
      assert.equal(second.status, 503);
      assert.equal(second.headers.get("retry-after"), "1");
      assert.deepEqual(await second.json(), { error: "server busy, please try again.  maximum pending requests exceeded" });
      while (!(await reader.read()).done);
      const third = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat() });
      assert.equal(third.status, 200);
      await third.json();
      assert.equal(f.sims[0].stats().requests, 2);
    } finally {
      await f.close();
    }
  });

  it("aborts the upstream request when the client disconnects", async () => {
    const f = await startProxyFixture({
      sims: [{ models: ["llama3:8b"], tokensPerSecond: 20 }],
      snapshot: (urls) => oneRoute([{ id: "n1", url: urls[0] }]),
    });
    try {
      const controller = new AbortController();
      const ended = f.sims[0].waitFor("request-end");
      const res = await fetch(`${f.proxy.url}/api/chat`, {
        method: "POST",
        body: chat({ stream: true, options: { num_predict: 200 } }),
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      assert.equal(f.sims[0].stats().inFlight, 1);
      controller.abort();
      await ended;
      assert.equal(f.sims[0].stats().inFlight, 0);
      assert.equal(f.sims[0].stats().aborted, 1);
      // The outcome is recorded once the proxy saw the upstream abort end.
      await until("the outcome", () => f.outcomes.length > 0, { timeoutMs: 2000, intervalMs: 0 });
      assert.equal(f.outcomes.at(-1)?.status, "client_gone");
    } finally {
      await f.close();
    }
  });

  // undici checks its parser timeouts about once a second, so the knobs below leave room for that.
  it("ends a stream with an in-band error when the upstream stalls past the idle timeout", async () => {
    const f = await startProxyFixture({
      sims: [{ models: ["llama3:8b"], tokensPerSecond: 0.5 }],
      snapshot: (urls) => oneRoute([{ id: "n1", url: urls[0] }], { idleTimeoutMs: 100 }),
    });
    try {
      const res = await fetch(`${f.proxy.url}/api/chat`, {
        method: "POST",
        body: chat({ stream: true, options: { num_predict: 5 } }),
      });
      assert.equal(res.status, 200);
      const lines = (await res.text())
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.match(lines.at(-1).error, /idle timeout/);
      assert.ok(!lines.some((l) => l.done === true));
    } finally {
      await f.close();
    }
  });

  it("answers 504 when the first byte does not come within the first-byte timeout", async () => {
    const f = await startProxyFixture({
      sims: [{ models: ["llama3:8b"], slowHeadersMs: 3000 }],
      snapshot: (urls) => oneRoute([{ id: "n1", url: urls[0] }], { firstByteTimeoutMs: 100 }),
    });
    try {
      const res = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: chat() });
      assert.equal(res.status, 504);
      assert.match(((await res.json()) as { error: string }).error, /first-byte timeout/);
    } finally {
      await f.close();
    }
  });
});
