import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { MetricsService, type MetricsWindow } from "../../gen/turnout/v1/metrics_pb.js";
import { SeriesInFlight } from "../../src/proxy/report/series-in-flight.ts";
import { startEmbedded } from "../integration/harness.ts";

const config = ([url]: string[]) => `
nodes:
  - { id: n1, url: "${url}", models: ["m:ok"] }
routes:
  - name: chat
    variants:
      - { name: stable, model: "m:ok" }
  - name: other
    variants:
      - { name: only, model: "m:ok" }
`;

/** A native chat on `model`: streamed and held open (resolves at the headers), or answered whole. */
async function chat(baseUrl: string, model: string, stream: boolean, tokens: number) {
  return request(`${baseUrl}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream, options: { num_predict: tokens }, messages: [{ role: "user", content: "hi" }] }),
  });
}

const inFlightOf = (w: MetricsWindow | undefined, route: string, variant: string) =>
  w?.series.find((s) => s.route === route && s.variant === variant)?.inFlight;

test("per-series in-flight counters count per (route, variant) and forget idle series", () => {
  const s = new SeriesInFlight();
  const a = s.enter("chat", "stable");
  const b = s.enter("chat", "stable");
  const c = s.enter("chat", "small");
  assert.equal(a, b, "one counter per series");
  assert.deepEqual(s.snapshot(), [
    { route: "chat", variant: "small", inFlight: 1 },
    { route: "chat", variant: "stable", inFlight: 2 },
  ]);
  a.count--;
  c.count--;
  assert.deepEqual(s.snapshot(), [{ route: "chat", variant: "stable", inFlight: 1 }]);
  b.count--;
  assert.deepEqual(s.snapshot(), []);
  assert.equal(s.enter("chat", "small").count, 1, "a forgotten series starts again at 1");
});

test("embedded: a stream held open shows in_flight 1 for its series in GetMetrics and WatchMetrics, 0 once it ends", async () => {
  const gw = await startEmbedded({
    sims: [{ models: ["m:ok"], ttftMs: 1, tokensPerSecond: 20, parallel: 8 }],
    config,
    heartbeatMs: 100,
  });
  try {
    const metrics = createClient(MetricsService, createConnectTransport({ baseUrl: gw.adminUrl, httpVersion: "1.1" }));
    // one finished request per route, so both series are in the window
    for (const model of ["chat", "other"]) {
      const res = await chat(gw.proxyUrl, model, false, 1);
      assert.equal(res.statusCode, 200);
      await res.body.text();
    }
    const held = await chat(gw.proxyUrl, "chat", true, 50); // 50 tokens at 20/s: open for 2.5 s
    assert.equal(held.statusCode, 200);

    const watch = new AbortController();
    const signal = AbortSignal.any([watch.signal, AbortSignal.timeout(10_000)]);
    let seen: MetricsWindow | undefined;
    for await (const msg of metrics.watchMetrics({ intervalMs: 100, windowSeconds: 60 }, { signal })) {
      seen = msg.window;
      if (inFlightOf(seen, "chat", "stable") === 1) break;
    }
    watch.abort();
    assert.equal(inFlightOf(seen, "chat", "stable"), 1, "WatchMetrics shows the open stream");
    const { window } = await metrics.getMetrics({ windowSeconds: 60 });
    assert.equal(inFlightOf(window, "chat", "stable"), 1, "GetMetrics shows it too");
    assert.equal(inFlightOf(window, "other", "only"), 0, "nothing in flight on the other series");
    const [entry] = gw.controlPlane.fleet!.proxies();
    assert.deepEqual(
      entry.status?.inFlightBySeries.map((s) => [s.route, s.variant, s.inFlight]),
      [["chat", "stable", 1]],
    );

    await held.body.text(); // the answer ends
    const watch2 = new AbortController();
    const signal2 = AbortSignal.any([watch2.signal, AbortSignal.timeout(10_000)]);
    for await (const msg of metrics.watchMetrics({ intervalMs: 100, windowSeconds: 60 }, { signal: signal2 })) {
      seen = msg.window;
      if (inFlightOf(seen, "chat", "stable") === 0) break;
    }
    watch2.abort();
    assert.equal(inFlightOf(seen, "chat", "stable"), 0, "back to 0 once the stream ended");
  } finally {
    await gw.close();
  }
});
