import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { MetricsService } from "../../gen/turnout/v1/metrics_pb.js";
import { startEmbedded } from "../integration/harness.ts";
import { promtoolCheck } from "./promtool.ts";

const config = ([good, bad]: string[]) => `
nodes:
  - { id: good, url: "${good}", models: ["m:ok"] }
  - { id: bad, url: "${bad}", models: ["m:bad"] }
routes:
  - name: chat
    variants:
      - { name: stable, model: "m:ok" }
  - name: broken
    variants:
      - { name: only, model: "m:bad" }
`;

async function chat(baseUrl: string, model: string): Promise<number> {
  const res = await request(`${baseUrl}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream: false, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.body.text();
  return res.statusCode;
}

async function text(url: string): Promise<string> {
  const res = await request(url);
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  return res.body.text();
}

test("embedded: N requests through the proxy are counted exactly once in GetMetrics, with latency and errors by class; /metrics passes promtool", async () => {
  const gw = await startEmbedded({
    sims: [
      { models: ["m:ok"], ttftMs: 40, tokensPerSecond: 0, outputTokens: 12, parallel: 16 },
      { models: ["m:bad"], errorRate: 1 },
    ],
    config,
  });
  try {
    const metrics = createClient(MetricsService, createConnectTransport({ baseUrl: gw.adminUrl, httpVersion: "1.1" }));
    const okCount = 40;
    const badCount = 7;
    const statuses = await Promise.all([
      ...Array.from({ length: okCount }, () => chat(gw.proxyUrl, "chat")),
      ...Array.from({ length: badCount }, () => chat(gw.proxyUrl, "broken")),
    ]);
    assert.equal(statuses.filter((s) => s === 200).length, okCount);
    assert.equal(statuses.filter((s) => s === 500).length, badCount);

    // WatchMetrics yields windows until every outcome has been consumed. (Leaving the loop does
    // not cancel a Connect call: abort it.)
    let windows = 0;
    const watch = new AbortController();
    const signal = AbortSignal.any([watch.signal, AbortSignal.timeout(15_000)]);
    for await (const msg of metrics.watchMetrics({ intervalMs: 100, windowSeconds: 60 }, { signal })) {
      windows++;
      if (Number(msg.window?.outcomesTotal) >= okCount + badCount) break;
    }
    watch.abort();
    assert.ok(windows >= 1);

    const { window } = await metrics.getMetrics({});
    assert.ok(window);
    assert.equal(Number(window.outcomesTotal), okCount + badCount);
    assert.deepEqual(
      window.series.map((s) => [s.route, s.variant, Number(s.requests)]),
      [
        ["broken", "only", badCount],
        ["chat", "stable", okCount],
      ],
    );
    const [broken, ok] = window.series;
    assert.deepEqual(Object.fromEntries(Object.entries(broken.errors).map(([k, v]) => [k, Number(v)])), {
      upstream_status: badCount,
    });
    assert.deepEqual(ok.errors, {});
    assert.ok(ok.latencyMs && ok.ttftMs);
    assert.equal(Number(ok.latencyMs.count), okCount);
    assert.ok(ok.latencyMs.p50 >= 40 && ok.latencyMs.p50 < 5000, `p50 ${ok.latencyMs.p50}`);
    assert.ok(ok.latencyMs.p50 <= ok.latencyMs.p95 && ok.latencyMs.p95 <= ok.latencyMs.p99);
    assert.ok(ok.ttftMs.p50 >= 40 && ok.ttftMs.p50 <= ok.latencyMs.p99, `ttft p50 ${ok.ttftMs.p50}`);
    assert.equal(Number(ok.completionTokens), okCount * 12);
    assert.ok(Math.abs(ok.requestsPerSecond - okCount / 60) < 1e-9);
    assert.equal(ok.inFlight, 0);
    const end = Number(window.end?.seconds);
    assert.equal(end - Number(window.start?.seconds), 59);

    // Route filter, and the bounds of the request fields.
    const only = await metrics.getMetrics({ route: "broken", windowSeconds: 3600 });
    assert.deepEqual(
      only.window?.series.map((s) => s.route),
      ["broken"],
    );
    await assert.rejects(
      metrics.getMetrics({ windowSeconds: 3601 }),
      (err: unknown) => ConnectError.from(err).code === Code.InvalidArgument,
    );
    const tooFast = async () => {
      for await (const _ of metrics.watchMetrics({ intervalMs: 50 })) break;
    };
    await assert.rejects(tooFast(), (err: unknown) => ConnectError.from(err).code === Code.InvalidArgument);

    // Prometheus on the proxy's traffic port and on the admin port.
    const proxyText = await text(`${gw.proxyUrl}/metrics`);
    await promtoolCheck(proxyText);
    assert.match(
      proxyText,
      new RegExp(`^turnout_proxy_requests_total\\{route="chat",variant="stable",status="ok",code="200"\\} ${okCount}$`, "m"),
    );
    assert.match(
      proxyText,
      new RegExp(
        `^turnout_proxy_requests_total\\{route="broken",variant="only",status="upstream_status",code="500"\\} ${badCount}$`,
        "m",
      ),
    );
    assert.match(
      proxyText,
      new RegExp(`^turnout_proxy_request_duration_seconds_count\\{route="chat",variant="stable"\\} ${okCount}$`, "m"),
    );
    assert.match(proxyText, /^turnout_proxy_in_flight_requests 0$/m);
    assert.match(proxyText, new RegExp(`^turnout_proxy_snapshot_version ${gw.proxy.version()}$`, "m"));
    assert.match(proxyText, /^turnout_proxy_outcome_batches_dropped_total 0$/m);
    const adminText = await text(`${gw.adminUrl}/metrics`);
    await promtoolCheck(adminText);
    assert.match(adminText, new RegExp(`^turnout_control_outcomes_consumed_total ${okCount + badCount}$`, "m"));
    assert.match(
      adminText,
      new RegExp(`^turnout_control_requests_total\\{route="chat",variant="stable",status="ok"\\} ${okCount}$`, "m"),
    );
    assert.match(adminText, new RegExp(`^turnout_control_snapshot_version ${gw.proxy.version()}$`, "m"));
    assert.match(adminText, /^# TYPE turnout_control_store_errors_total counter$/m);
  } finally {
    await gw.close();
  }
});
