import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ClientKeepAlive, clientKeepAliveValue } from "../../src/proxy/routing/client-keep-alive.ts";
import type { SimEvent } from "../../src/sim/simulator.ts";
import { startProxyFixture, type ProxyFixture, type SnapshotSpec } from "./proxy-harness.ts";

type RequestEvent = Extract<SimEvent, { type: "request" }>;

describe("the model residency policy", () => {
  it("ignore drops any client keep_alive; pass forwards it; clamp keeps it within 5m..30m", () => {
    for (const v of [0, -1, "0", "10m", 600, "soon"]) assert.equal(clientKeepAliveValue(ClientKeepAlive.Ignore, v), undefined);
    for (const v of [0, -1, "10m", "soon"]) assert.equal(clientKeepAliveValue(ClientKeepAlive.Pass, v), v);
    const clamp = (v: unknown) => clientKeepAliveValue(ClientKeepAlive.Clamp, v);
    assert.equal(clamp(0), 300, "0 would unload at once");
    assert.equal(clamp("0"), 300);
    assert.equal(clamp("30s"), 300);
    assert.equal(clamp(-1), 1800, "negative would pin the model forever");
    assert.equal(clamp("-1m"), 1800);
    assert.equal(clamp("2h"), 1800);
    assert.equal(clamp(7200), 1800);
    assert.equal(clamp("10m"), "10m", "within the bounds: as sent");
    assert.equal(clamp(600), 600);
    assert.equal(clamp("soon"), undefined, "not a duration Ollama reads: dropped");
    assert.equal(clamp("7d"), undefined, "Ollama reads no days");
    assert.equal(clamp(undefined), undefined);
  });
});

describe("a client's keep_alive against the simulator", () => {
  let f: ProxyFixture;
  const seen: RequestEvent[] = [];
  let version = 1;
  const spec = (clientKeepAlive: string, variantKeepAlive = ""): SnapshotSpec => ({
    version: version++,
    nodes: [{ id: "n1", url: f?.sims[0].url ?? "" }],
    routes: [{ name: "r", variants: [{ name: "v", model: "m:1b", keepAlive: variantKeepAlive }] }],
    settings: { clientKeepAlive },
  });

  before(async () => {
    f = await startProxyFixture({ sims: [{ models: ["m:1b"], outputTokens: 2 }] });
    f.sims[0].subscribe((e) => {
      if (e.type === "request") seen.push(e);
    });
  });
  after(() => f.close());

  const send = async (path: string, body: object) => {
    const res = await fetch(`${f.proxy.url}${path}`, { method: "POST", body: JSON.stringify({ model: "r", ...body }) });
    assert.equal(res.status, 200, await res.clone().text());
    await res.text();
  };
  const resident = async () => {
    const ps = (await (await fetch(`${f.sims[0].url}/api/ps`)).json()) as { models: { name: string }[] };
    return ps.models.map((m) => m.name);
  };
  const chat = { messages: [{ role: "user", content: "hi" }], stream: false };

  it("does not unload the model when a client sends keep_alive 0 (the default policy)", async () => {
    await f.publish(spec(""));
    await send("/api/chat", chat);
    assert.deepEqual(await resident(), ["m:1b"]);
    await send("/api/chat", { ...chat, keep_alive: 0 });
    await send("/api/generate", { prompt: "hi", stream: false, keep_alive: 0 });
    // Ollama's unload call itself: no prompt, keep_alive 0.
    await send("/api/generate", { keep_alive: 0 });
    await send("/v1/chat/completions", { ...chat, keep_alive: 0 });
    assert.deepEqual(await resident(), ["m:1b"], "/api/ps still lists the model");
    assert.equal(f.sims[0].stats().unloads, 0);
    assert.deepEqual(
      seen.slice(-4).map((e) => e.keepAlive),
      [undefined, undefined, undefined, undefined],
    );
  });

  it("lets the client unload it only under pass (what the default prevents)", async () => {
    await f.publish(spec("pass"));
    const unloaded = f.sims[0].waitFor("unload");
    await send("/api/generate", { keep_alive: 0 });
    await unloaded;
    assert.deepEqual(await resident(), []);
  });

  it("forwards a clamped keep_alive under clamp", async () => {
    await f.publish(spec("clamp"));
    for (const [sent, forwarded] of [
      [0, 300],
      [-1, 1800],
      ["-5m", 1800],
      ["10m", "10m"],
    ] as const) {
      await send("/api/chat", { ...chat, keep_alive: sent });
      assert.equal(seen.at(-1)?.keepAlive, forwarded, String(sent));
    }
    assert.deepEqual(await resident(), ["m:1b"]);
  });

  it("forwards the variant's keep_alive whatever the client sends and the policy says", async () => {
    for (const policy of ["", "pass", "clamp"]) {
      await f.publish(spec(policy, "45m"));
      await send("/api/chat", { ...chat, keep_alive: 0 });
      assert.equal(seen.at(-1)?.keepAlive, "45m", policy);
    }
  });
});
