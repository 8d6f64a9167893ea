import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import { Role } from "../../gen/turnout/v1/routing_pb.js";
import { fnv1a32 } from "../../src/assign/hash.ts";
import type { SimEvent } from "../../src/sim/simulator.ts";
import { bearer, testKey } from "./client-key-fixture.ts";
import { startProxyFixture, type ProxyFixture, type SnapshotSpec } from "./proxy-harness.ts";

type RequestEvent = Extract<SimEvent, { type: "request" }>;

const chat = (model: string) => JSON.stringify({ model, stream: false, messages: [{ role: "user", content: "hi" }] });

const everywhere = testKey();
const onlyA = testKey({ routes: ["route-a"] });
const expired = testKey({ expiresAtMs: Date.now() - 1000 });
const admin = testKey({ role: Role.ADMIN });
const revoked = testKey();

function spec(urls: string[], version: number, keys = [everywhere, onlyA, expired, admin, revoked]): SnapshotSpec {
  return {
    version,
    nodes: [{ id: "n1", url: urls[0] }],
    routes: [
      { name: "route-a", variants: [{ name: "a", model: "qwen3:8b" }] },
      { name: "route-b", variants: [{ name: "b", model: "qwen3:8b" }] },
    ],
    keys: keys.map((k) => k.snapshot),
  };
}

async function post(f: ProxyFixture, path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${f.proxy.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function get(f: ProxyFixture, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${f.proxy.url}${path}`, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("client keys required on the traffic port", () => {
  let f: ProxyFixture;
  const seen: RequestEvent[] = [];

  before(async () => {
    f = await startProxyFixture({
      sims: [{ models: ["qwen3:8b"], outputTokens: 3 }],
      snapshot: (urls) => spec(urls, 1),
      clientAuth: { requireClientKeys: true },
    });
    f.sims[0].subscribe((e) => {
      if (e.type === "request") seen.push(e);
    });
  });
  after(() => f.close());

  it("answers a client key on every model endpoint of both HTTP dialects", async () => {
    for (const [path, body] of [
      ["/api/chat", chat("route-a")],
      ["/api/generate", JSON.stringify({ model: "route-a", prompt: "hi", stream: false })],
      ["/api/embed", JSON.stringify({ model: "route-a", input: "hi" })],
      ["/api/show", JSON.stringify({ model: "route-a" })],
      ["/v1/chat/completions", chat("route-a")],
      ["/v1/completions", JSON.stringify({ model: "route-a", prompt: "hi" })],
      ["/v1/embeddings", JSON.stringify({ model: "route-a", input: "hi" })],
    ]) {
      const r = await post(f, path, body, bearer(everywhere));
      assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
    }
  });

  it("refuses a missing, malformed, unknown, wrong-secret, expired or admin key with Ollama's 401 on native paths", async () => {
    const wrongSecret = `${everywhere.token.slice(0, -4)}AAAA`;
    const unknown = testKey().token;
    for (const [what, headers, message] of [
      ["no header", {}, /^missing API key/],
      ["not a bearer", { authorization: `Basic ${everywhere.token}` }, /^missing API key/],
      ["not a token", bearer("unused"), /^invalid API key$/],
      ["unknown id", bearer(unknown), /^invalid API key$/],
      ["wrong secret", bearer(wrongSecret), /^invalid API key$/],
      ["expired", bearer(expired), /^API key expired$/],
      ["admin key", bearer(admin), /^API key is not a client key$/],
    ] as const) {
      for (const path of ["/api/chat", "/api/generate", "/api/embed", "/api/show"]) {
        const r = await post(f, path, chat("route-a"), headers);
        assert.equal(r.status, 401, `${what} on ${path}`);
        assert.deepEqual(Object.keys(r.body), ["error"], `${what} on ${path}`);
        assert.match(r.body.error as string, message, `${what} on ${path}`);
        assert.equal(r.headers.get("www-authenticate"), 'Bearer realm="turnout"');
      }
    }
  });

  it("refuses a bad key with OpenAI's invalid_api_key error on /v1", async () => {
    for (const path of ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]) {
      const r = await post(f, path, chat("route-a"), bearer("sk-not-ours"));
      assert.equal(r.status, 401, path);
      assert.deepEqual(r.body, {
        error: { message: "invalid API key", type: "invalid_request_error", param: null, code: "invalid_api_key" },
      });
    }
  });

  it("refuses a bad key with unauthenticated on Connect", async () => {
    for (const headers of [{}, bearer(expired)]) {
      const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
      await assert.rejects(
        async () => {
          for await (const _ of client.chat({ model: "route-a", messages: [{ role: "user", content: "hi" }] }, { headers }));
        },
        (err: unknown) => err instanceof ConnectError && err.code === Code.Unauthenticated,
      );
    }
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    let n = 0;
    for await (const _ of client.chat(
      { model: "route-a", messages: [{ role: "user", content: "hi" }] },
      { headers: bearer(onlyA) },
    ))
      n++;
    assert.ok(n > 0);
  });

  it("answers a route outside the key's scope exactly as a model that does not exist", async () => {
    for (const path of ["/api/chat", "/v1/chat/completions"]) {
      const outside = await post(f, path, chat("route-b"), bearer(onlyA));
      const missing = await post(f, path, chat("no-such-route"), bearer(onlyA));
      assert.equal(outside.status, 404, path);
      assert.equal(missing.status, 404, path);
      assert.deepEqual(
        JSON.parse(JSON.stringify(outside.body).replace("route-b", "no-such-route")),
        missing.body,
        `${path}: the same shape and words as an unknown model`,
      );
      assert.equal((await post(f, path, chat("route-b"), bearer(everywhere))).status, 200);
    }
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    await assert.rejects(
      async () => {
        for await (const _ of client.chat(
          { model: "route-b", messages: [{ role: "user", content: "hi" }] },
          { headers: bearer(onlyA) },
        ));
      },
      (err: unknown) =>
        err instanceof ConnectError && err.code === Code.NotFound && /model 'route-b' not found/.test(err.message),
    );
  });

  it("lists only the key's routes, and nothing without a key", async () => {
    assert.equal((await get(f, "/api/tags")).status, 401);
    assert.equal((await get(f, "/v1/models")).status, 401);
    assert.equal((await get(f, "/api/ps")).status, 401);
    assert.equal((await get(f, "/v1/models/route-a")).status, 401);
    const names = (b: Record<string, unknown>, field: string, name: string) =>
      (b[field] as Record<string, string>[]).map((m) => m[name]);
    assert.deepEqual(names((await get(f, "/api/tags", bearer(onlyA))).body, "models", "name"), ["route-a"]);
    assert.deepEqual(names((await get(f, "/api/tags", bearer(everywhere))).body, "models", "name"), ["route-a", "route-b"]);
    assert.deepEqual(names((await get(f, "/v1/models", bearer(onlyA))).body, "data", "id"), ["route-a"]);
    assert.deepEqual(names((await get(f, "/v1/models", bearer(everywhere))).body, "data", "id"), ["route-a", "route-b"]);
    assert.equal((await get(f, "/v1/models/route-b", bearer(onlyA))).status, 404);
    assert.equal((await get(f, "/v1/models/route-a", bearer(onlyA))).status, 200);
    // Both routes serve qwen3:8b, which the chats above loaded.
    assert.deepEqual(names((await get(f, "/api/ps", bearer(onlyA))).body, "models", "name"), ["route-a"]);
    assert.deepEqual(names((await get(f, "/api/ps", bearer(everywhere))).body, "models", "name"), ["route-a", "route-b"]);
  });

  it("leaves health and version open", async () => {
    assert.equal((await get(f, "/health")).status, 200);
    assert.equal((await get(f, "/api/version")).status, 200);
  });

  it("needs a key for feedback too", async () => {
    const r = await post(f, "/v1/feedback", JSON.stringify({ ref: "x", metric: "thumbs_up", value: 1 }));
    assert.equal(r.status, 401);
    assert.match(r.body.error as string, /^missing API key/);
    const keyed = await post(f, "/v1/feedback", JSON.stringify({ ref: "x", metric: "thumbs_up", value: 1 }), bearer(everywhere));
    assert.equal(keyed.status, 400, "past the key, the ref is checked");
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    await assert.rejects(
      client.feedback({ ref: "x", metric: "thumbs_up", value: 1 }),
      (err: unknown) => err instanceof ConnectError && err.code === Code.Unauthenticated,
    );
  });

  it("never forwards the key (or any client header) to the node", async () => {
    const before = seen.length;
    await post(f, "/api/chat", chat("route-a"), bearer(everywhere));
    await post(f, "/v1/chat/completions", chat("route-a"), { ...bearer(everywhere), cookie: "session=1" });
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    for await (const _ of client.chat(
      { model: "route-a", messages: [{ role: "user", content: "hi" }] },
      { headers: bearer(everywhere) },
    ));
    const events = seen.slice(before);
    assert.equal(events.length, 3);
    for (const e of events) {
      assert.equal(e.headers.authorization, undefined, e.path);
      assert.equal(e.headers.cookie, undefined, e.path);
      assert.ok(!JSON.stringify(e.headers).includes(everywhere.id), e.path);
    }
  });

  it("makes the key id the assignment unit of a request that names no user", async () => {
    const before = f.outcomes.length;
    await post(f, "/api/chat", chat("route-a"), bearer(everywhere));
    await post(f, "/api/chat", JSON.stringify({ ...JSON.parse(chat("route-a")), user: "alice" }), bearer(everywhere));
    await post(f, "/api/chat", chat("route-a"), { ...bearer(everywhere), "x-turnout-user": "bob" });
    const units = f.outcomes.slice(before).map((o) => o.unitHash);
    assert.deepEqual(
      units,
      [fnv1a32(everywhere.id), fnv1a32("alice"), fnv1a32("bob")].map((h) => h.toString(16)),
    );
  });

  it("refuses a revoked key from the next snapshot on", async () => {
    assert.equal((await post(f, "/api/chat", chat("route-a"), bearer(revoked))).status, 200);
    await f.publish(spec([f.sims[0].url], 2, [everywhere, onlyA, expired, admin]));
    const r = await post(f, "/api/chat", chat("route-a"), bearer(revoked));
    assert.equal(r.status, 401);
    assert.equal(r.body.error, "invalid API key");
  });
});

describe("client keys not required (loopback)", () => {
  let f: ProxyFixture;
  const scoped = testKey({ routes: ["route-a"] });

  before(async () => {
    f = await startProxyFixture({
      sims: [{ models: ["qwen3:8b"], outputTokens: 3 }],
      snapshot: (urls) => spec(urls, 1, [scoped, expired]),
    });
  });
  after(() => f.close());

  it("serves anonymous requests, and the placeholder an SDK sends as a key", async () => {
    assert.equal((await post(f, "/api/chat", chat("route-b"))).status, 200);
    assert.equal((await post(f, "/v1/chat/completions", chat("route-b"), bearer("unused"))).status, 200);
    assert.equal((await get(f, "/api/tags")).status, 200);
  });

  it("still checks a Turnout key that is sent, and applies its scope", async () => {
    assert.equal((await post(f, "/api/chat", chat("route-a"), bearer(scoped))).status, 200);
    assert.equal((await post(f, "/api/chat", chat("route-b"), bearer(scoped))).status, 404);
    assert.equal((await post(f, "/api/chat", chat("route-a"), bearer(expired))).status, 401);
    assert.equal((await post(f, "/api/chat", chat("route-a"), bearer(testKey()))).status, 401);
  });
});
