import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeHealthChanged } from "../../gen/turnout/v1/events_pb.js";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createMemoryEventBus } from "../../src/transport/memory/event-bus.ts";
import { SUBJECTS, type EventBus } from "../../src/transport/types.ts";
import { deadUrl, startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";
import { until } from "../support/until.ts";

const MODEL = "llama3:8b";
const body = (extra: object = {}) => JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], ...extra });

/** Collects NodeHealthChanged events (JSON on the bus) and waits for one that matches. */
function watchNodeHealth(bus: EventBus) {
  const controller = new AbortController();
  const seen: NodeHealthChanged[] = [];
  let wake = null as (() => void) | null;
  void (async () => {
    for await (const m of bus.subscribe(SUBJECTS.nodeHealth, controller.signal)) {
      seen.push(JSON.parse(new TextDecoder().decode(m.data)) as NodeHealthChanged);
      wake?.();
    }
  })().catch(() => undefined);
  return {
    seen,
    async next(match: (e: NodeHealthChanged) => boolean, timeoutMs = 10_000): Promise<NodeHealthChanged> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = seen.find(match);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching NodeHealthChanged within ${timeoutMs} ms; seen: ${JSON.stringify(seen)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
    close: () => controller.abort(),
  };
}

async function metric(f: ProxyFixture, name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(`${f.proxy.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

/** Reads a streamed answer to its end and returns its text. */
async function readAll(res: Response): Promise<string> {
  return await res.text();
}

describe("a node that fails", () => {
  it("killed mid-stream: its streams end with an in-band error, new requests go to the healthy node, it is ejected and re-admitted when it returns", async () => {
    const bus = createMemoryEventBus();
    const events = watchNodeHealth(bus);
    const f = await startProxyFixture({
      bus,
      sims: [
        { models: [MODEL], tokensPerSecond: 30, parallel: 8 },
        { models: [MODEL], tokensPerSecond: 30, parallel: 8 },
      ],
    });
    let revived: Simulator | undefined;
    try {
      const [a, b] = f.sims;
      // The model is resident on both nodes, so in-flight counts alone decide.
      for (const sim of f.sims)
        await (await fetch(`${sim.url}/api/generate`, { method: "POST", body: JSON.stringify({ model: MODEL }) })).json();
      await f.publish({
        version: 1,
        nodes: [
          { id: "a", url: a.url },
          { id: "b", url: b.url },
        ],
        routes: [{ name: "m", variants: [{ name: "v", model: MODEL }] }],
        settings: {
          // Probes every 200 ms; the victim is taken out by its cut streams, a healthy node only after 5 failed probes.
          healthCheck: { intervalMs: 200, timeoutMs: 200, unhealthyThreshold: 5, healthyThreshold: 2 },
          // A long ejection: only the passing probes can bring the node back within the test.
          outlierDetection: { consecutiveFailures: 2, baseEjectionMs: 120_000 },
        },
      });
      // 4 native and 4 /v1 streams, opened one after another: in-flight balancing puts 2 of each on each node.
      const streams: { res: Response; sse: boolean }[] = [];
      for (let i = 0; i < 8; i++) {
        const sse = i >= 4;
        const res = await fetch(`${f.proxy.url}${sse ? "/v1/chat/completions" : "/api/chat"}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: body({ stream: true, options: { num_predict: 60 }, max_tokens: 60 }),
        });
        assert.equal(res.status, 200);
        streams.push({ res, sse });
      }
      assert.equal(a.stats().inFlight, 4);
      assert.equal(b.stats().inFlight, 4);

      await a.close(); // killed: its connections are cut mid-stream
      const texts = await Promise.all(streams.map((s) => readAll(s.res)));
      for (let i = 0; i < streams.length; i++) {
        const node = f.outcomes.find((o) => o.requestId === streams[i].res.headers.get("x-request-id"))?.node;
        const text = texts[i];
        if (node === "a") {
          if (streams[i].sse) {
            const frames = text.trim().split("\n\n");
            assert.match(frames.at(-1)!, /^data: \{"error":\{"message":"upstream failed mid-answer/);
            assert.ok(!text.includes("[DONE]"));
          } else {
            const last = JSON.parse(text.trim().split("\n").at(-1)!) as { error?: string };
            assert.match(last.error ?? "", /upstream failed mid-answer/);
          }
        } else {
          assert.equal(node, "b");
          if (streams[i].sse) assert.ok(text.trimEnd().endsWith("data: [DONE]"));
          else assert.equal((JSON.parse(text.trim().split("\n").at(-1)!) as { done: boolean }).done, true);
        }
      }
      assert.equal(f.outcomes.filter((o) => o.node === "a" && o.status === "upstream_failed").length, 4);

      const out = await events.next((e) => e.node === "a" && !e.healthy);
      assert.equal(out.proxy, "test");
      assert.equal(out.baseUrl, a.url);
      assert.match(out.reason, /ejected for 120000 ms after 2 consecutive failures/);
      assert.ok(!Number.isNaN(Date.parse(out.at as unknown as string)), "at is an RFC 3339 timestamp");
      assert.equal(await metric(f, "turnout_proxy_node_healthy", 'node="a"'), 0);
      assert.equal(await metric(f, "turnout_proxy_node_healthy", 'node="b"'), 1);
      assert.equal(await metric(f, "turnout_proxy_node_ejections_total", 'node="a"'), 1);

      // Every new request goes to the healthy node, without a failed attempt on the dead one.
      const before = b.stats().requests;
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${f.proxy.url}/api/chat`, {
          method: "POST",
          body: body({ stream: false, options: { num_predict: 2 } }),
        });
        assert.equal(res.status, 200);
        await res.json();
      }
      assert.equal(b.stats().requests - before, 20);
      assert.ok(f.outcomes.slice(-20).every((o) => o.node === "b" && o.status === "ok"));

      // The node returns on the same port with the model loaded: its probes pass and it is re-admitted.
      revived = await startSimulator({ models: [MODEL], port: a.port });
      await (await fetch(`${revived.url}/api/generate`, { method: "POST", body: JSON.stringify({ model: MODEL }) })).json();
      const back = await events.next((e) => e.node === "a" && e.healthy);
      assert.match(back.reason, /active health check passed/);
      assert.equal(await metric(f, "turnout_proxy_node_healthy", 'node="a"'), 1);
      await until(
        "the probe to see the model resident on a",
        async () => (await metric(f, "turnout_proxy_node_model_resident", `node="a",model="${MODEL}"`)) === 1,
      );
      for (let i = 0; i < 40 && revived.stats().requests === 1; i++) {
        const res = await fetch(`${f.proxy.url}/api/chat`, {
          method: "POST",
          body: body({ stream: false, options: { num_predict: 2 } }),
        });
        assert.equal(res.status, 200);
        await res.json();
      }
      assert.ok(revived.stats().requests > 1, "the returned node serves again");
    } finally {
      events.close();
      await f.close();
      await revived?.close();
    }
  });

  it("a dead node is ejected for the base time, re-admitted when it passes, and ejected for twice as long when it fails again", async () => {
    const bus = createMemoryEventBus();
    const events = watchNodeHealth(bus);
    const dead = await deadUrl();
    const f = await startProxyFixture({
      bus,
      sims: [{ models: [MODEL] }],
      snapshot: (urls) => ({
        version: 1,
        nodes: [
          { id: "dead", url: dead },
          { id: "live", url: urls[0] },
        ],
        routes: [{ name: "m", variants: [{ name: "v", model: MODEL }] }],
        settings: { healthCheck: { disabled: true }, outlierDetection: { consecutiveFailures: 2, baseEjectionMs: 300 } },
      }),
    });
    try {
      const send = async () => {
        const res = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: body({ stream: false }) });
        assert.equal(res.status, 200, "a refused connection is retried on the live node");
        await res.json();
      };
      // A refusing node also cools down for a second after each refusal, so failures add up over time.
      const sendUntil = (what: string, done: () => boolean) =>
        until(
          what,
          async () => {
            if (!done()) await send();
            return done();
          },
          { intervalMs: 0 },
        );
      await sendUntil("a node taken out", () => events.seen.some((e) => !e.healthy));
      const first = await events.next((e) => !e.healthy);
      assert.equal(first.node, "dead");
      assert.match(first.reason, /ejected for 300 ms after 2 consecutive failures \(last: ECONNREFUSED\)/);
      const back = await events.next((e) => e.healthy);
      assert.match(back.reason, /ejection time elapsed/);
      await sendUntil("a second ejection", () => events.seen.filter((e) => !e.healthy).length >= 2);
      const second = await events.next((e) => !e.healthy && e !== first);
      assert.match(second.reason, /ejected for 600 ms/);
      assert.equal(await metric(f, "turnout_proxy_node_ejections_total", 'node="dead"'), 2);
      assert.ok(f.outcomes.every((o) => o.node === "live" && o.status === "ok"));
    } finally {
      events.close();
      await f.close();
    }
  });

  it("a node answering 503 suspiciously fast is ejected and stops receiving requests", async () => {
    const bus = createMemoryEventBus();
    const events = watchNodeHealth(bus);
    const f = await startProxyFixture({
      bus,
      sims: [{ models: [MODEL], maxQueue: 0 }, { models: [MODEL] }],
      snapshot: (urls) => ({
        version: 1,
        nodes: [
          { id: "busy", url: urls[0] },
          { id: "ok", url: urls[1] },
        ],
        routes: [{ name: "m", variants: [{ name: "v", model: MODEL }] }],
        // Loopback answers are fast; 2 s makes every 503 here count as "suspiciously fast".
        settings: {
          healthCheck: { disabled: true },
          outlierDetection: { consecutiveFailures: 2, fast503Ms: 2000, baseEjectionMs: 60_000 },
        },
      }),
    });
    try {
      const send = async () => {
        const res = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: body({ stream: false }) });
        assert.equal(res.status, 200, "the 503 is retried on the other node");
        await res.json();
      };
      // Each 503 also cools the node down for a second: the two failures take a little while.
      await until(
        "the busy node taken out",
        async () => {
          if (!events.seen.some((e) => !e.healthy)) await send();
          return events.seen.some((e) => !e.healthy);
        },
        { intervalMs: 0 },
      );
      const out = await events.next((e) => !e.healthy);
      assert.equal(out.node, "busy");
      assert.match(out.reason, /after 2 consecutive failures \(last: 503 within [\d.]+ ms\)/);
      assert.equal(f.sims[0].stats().busy, 2);
      for (let i = 0; i < 20; i++) await send();
      assert.equal(f.sims[0].stats().busy, 2, "out of rotation: no request reaches it any more");
      assert.equal(await metric(f, "turnout_proxy_node_healthy", 'node="busy"'), 0);
      assert.ok(f.outcomes.every((o) => o.node === "ok"));
    } finally {
      events.close();
      await f.close();
    }
  });
});
