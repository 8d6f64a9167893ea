import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { startSimulator, type SimEvent } from "../../src/sim/simulator.ts";
import { get, ndjson, post } from "./http-helpers.ts";
import { until } from "../support/until.ts";

const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});
const ps = async (url: string) =>
  JSON.parse((await get(`${url}/api/ps`)).text).models as { name: string; expires_at: string; size: number; size_vram: number }[];

test("a cold model sends no header until it is loaded, then shows in /api/ps", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:32b"], loadMs: 80 });
  t.after(() => sim.close());
  assert.deepEqual(await ps(sim.url), []);
  assert.equal(sim.isLoaded("qwen3:32b"), false);

  const loaded = sim.waitFor("load");
  let responded = false;
  const answer = new Promise<string>((resolve, reject) => {
    const req = request(`${sim.url}/api/chat`, { method: "POST" }, (res) => {
      responded = true;
      let body = "";
      res
        .setEncoding("utf8")
        .on("data", (c) => (body += c))
        .on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end(JSON.stringify(chat("qwen3:32b")));
  });
  assert.deepEqual(await loaded, { type: "load", model: "qwen3:32b" });
  assert.equal(responded, false, "no response header before the load completed");
  const chunks = ndjson(await answer);
  const last = chunks.at(-1)!;
  assert.ok(last.load_duration >= 70e6, `load_duration ${last.load_duration} ns covers the load`);

  const models = await ps(sim.url);
  assert.equal(models.length, 1);
  assert.equal(models[0]!.name, "qwen3:32b");
  assert.equal(models[0]!.size_vram, models[0]!.size);
  const ttl = Date.parse(models[0]!.expires_at) - Date.now();
  assert.ok(ttl > 4 * 60_000 && ttl <= 5 * 60_000, `expires in about 5m, got ${ttl} ms`);

  const warm = ndjson((await post(`${sim.url}/api/chat`, chat("qwen3:32b"))).text).at(-1)!;
  assert.ok((warm.load_duration ?? 0) < 20e6, "a warm model does not load again");
  assert.equal(sim.stats().loads, 1);
});

test("keep_alive expiry starts when the model's last request ends", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:8b"], tokensPerSecond: 100, outputTokens: 10 });
  t.after(() => sim.close());
  const unloaded = sim.waitFor("unload");
  // The stream lasts ~90 ms, longer than the 50 ms keep-alive: the model must outlive it.
  const a = await post(`${sim.url}/api/chat`, chat("qwen3:8b", { keep_alive: "50ms" }));
  assert.equal(a.status, 200);
  assert.equal(sim.isLoaded("qwen3:8b"), true, "still resident right after the request ends");
  const models = await ps(sim.url);
  assert.ok(Date.parse(models[0]!.expires_at) - Date.now() <= 60);
  assert.deepEqual(await unloaded, { type: "unload", model: "qwen3:8b" });
  assert.deepEqual(await ps(sim.url), []);
  assert.equal(sim.stats().unloads, 1);
});

test("keep_alive as seconds and the node default both apply; negative keeps the model forever", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:8b", "llama3.2:3b"], keepAlive: 0.05 });
  t.after(() => sim.close());
  const unloaded = sim.waitFor("unload", (e) => e.model === "qwen3:8b");
  await post(`${sim.url}/api/chat`, chat("qwen3:8b", { stream: false }));
  await unloaded;
  await post(`${sim.url}/api/chat`, chat("llama3.2:3b", { keep_alive: -1, stream: false }));
  const [m] = await ps(sim.url);
  assert.equal(m!.name, "llama3.2:3b");
  assert.ok(new Date(m!.expires_at).getUTCFullYear() > 2200);
  await post(`${sim.url}/api/chat`, chat("llama3.2:3b", { keep_alive: "720h", stream: false }));
  const days = (Date.parse((await ps(sim.url))[0]!.expires_at) - Date.now()) / 86_400_000;
  assert.ok(days > 29.9 && days <= 30, `a keep-alive beyond Node's timer range still counts: ${days} days`);
  assert.equal(sim.isLoaded("llama3.2:3b"), true);
});

test("an empty generate loads the model and keep_alive 0 unloads it", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:8b"], loadMs: 20 });
  t.after(() => sim.close());
  const load = await post(`${sim.url}/api/generate`, { model: "qwen3:8b" });
  assert.equal(load.status, 200);
  assert.equal(load.contentType, "application/json; charset=utf-8");
  const lb = JSON.parse(load.text);
  assert.deepEqual([lb.model, lb.response, lb.done, lb.done_reason], ["qwen3:8b", "", true, "load"]);
  assert.equal(sim.isLoaded("qwen3:8b"), true);

  const chatLoad = JSON.parse((await post(`${sim.url}/api/chat`, { model: "qwen3:8b", messages: [] })).text);
  assert.equal(chatLoad.done_reason, "load");
  assert.deepEqual(chatLoad.message, { role: "assistant", content: "" });

  const unloaded = sim.waitFor("unload");
  const unload = JSON.parse((await post(`${sim.url}/api/generate`, { model: "qwen3:8b", keep_alive: 0 })).text);
  assert.equal(unload.done_reason, "unload");
  await unloaded;
  assert.deepEqual(await ps(sim.url), []);
});

test("keep_alive 0 waits for in-flight requests before unloading", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:8b"], tokensPerSecond: 200, outputTokens: 40 });
  t.after(() => sim.close());
  const log: string[] = [];
  t.after(sim.subscribe((e) => log.push(e.type === "request-end" ? `end:${e.path}` : e.type)));
  const headers = sim.waitFor("headers");
  const streaming = post(`${sim.url}/api/chat`, chat("qwen3:8b"));
  await headers;
  const unload = JSON.parse((await post(`${sim.url}/api/chat`, { model: "qwen3:8b", messages: [], keep_alive: 0 })).text);
  assert.equal(unload.done_reason, "unload");
  assert.equal(sim.isLoaded("qwen3:8b"), true, "the running stream keeps the model");
  const chunks = ndjson((await streaming).text);
  assert.equal(chunks.at(-1)!.done, true, "the in-flight stream finished");
  await until("qwen3:8b to unload", () => !sim.isLoaded("qwen3:8b"));
  assert.ok(log.indexOf("unload") > log.indexOf("end:/api/chat"));
});

test("requests beyond the parallel slots wait, never more than `parallel` at once", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:8b"], parallel: 2, tokensPerSecond: 400, outputTokens: 8 });
  t.after(() => sim.close());
  let running = 0;
  let most = 0;
  t.after(
    sim.subscribe((e: SimEvent) => {
      if (e.type === "headers") most = Math.max(most, ++running);
      if (e.type === "request-end") running--;
    }),
  );
  const answers = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      post(`${sim.url}/api/chat`, chat("qwen3:8b", { messages: [{ role: "user", content: `q${i}` }] })),
    ),
  );
  assert.ok(answers.every((a) => a.status === 200));
  assert.equal(most, 2);
});

test("a full load queue answers 503 at once; waiting for slots of a loaded model never does", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:32b"], loadMs: 100, maxQueue: 2 });
  t.after(() => sim.close());
  const first = post(`${sim.url}/api/chat`, chat("qwen3:32b", { stream: false }));
  const second = post(`${sim.url}/api/chat`, chat("qwen3:32b", { stream: false }));
  await until("2 requests in flight", () => sim.stats().inFlight === 2);
  const busy = await post(`${sim.url}/api/chat`, chat("qwen3:32b", { stream: false }));
  assert.equal(busy.status, 503);
  assert.deepEqual(JSON.parse(busy.text), { error: "server busy, please try again.  maximum pending requests exceeded" });
  assert.equal((await first).status, 200);
  assert.equal((await second).status, 200);
  assert.equal(sim.stats().busy, 1);

  sim.setFaults({ tokensPerSecond: 500, outputTokens: 5 });
  const many = await Promise.all(
    Array.from({ length: 8 }, () => post(`${sim.url}/api/chat`, chat("qwen3:32b", { stream: false }))),
  );
  assert.deepEqual(
    many.map((a) => a.status),
    Array(8).fill(200),
  );
});

test("a client that disconnects while waiting for a load is dropped and the load aborted", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:32b"], loadMs: 5_000 });
  t.after(() => sim.close());
  const ac = new AbortController();
  const pending = post(`${sim.url}/api/chat`, chat("qwen3:32b"), ac.signal).catch((e: Error) => e);
  await until("1 request in flight", () => sim.stats().inFlight === 1);
  const ended = sim.waitFor("request-end");
  ac.abort();
  assert.equal(((await ended) as { status: number }).status, 499);
  assert.ok((await pending) instanceof Error);
  assert.equal(sim.stats().inFlight, 0);
  assert.equal(sim.stats().aborted, 1);
  assert.equal(sim.isLoaded("qwen3:32b"), false);
  sim.setFaults({ loadMs: 10 });
  assert.equal((await post(`${sim.url}/api/chat`, chat("qwen3:32b"))).status, 200);
  assert.equal(sim.stats().loads, 1);
});

test("a client that disconnects mid-stream frees its slot", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:8b"], tokensPerSecond: 20, outputTokens: 1000 });
  t.after(() => sim.close());
  const ac = new AbortController();
  const res = await fetch(`${sim.url}/api/chat`, { method: "POST", body: JSON.stringify(chat("qwen3:8b")), signal: ac.signal });
  const reader = res.body!.getReader();
  await reader.read();
  const ended = sim.waitFor("request-end");
  ac.abort();
  await ended;
  sim.setFaults({ tokensPerSecond: 0, outputTokens: 3 });
  const next = await post(`${sim.url}/api/chat`, chat("qwen3:8b", { stream: false }));
  assert.equal(next.status, 200);
  assert.equal(sim.stats().inFlight, 0);
});
