import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { MetricsService } from "../../gen/turnout/v1/metrics_pb.js";
import { startAdminServer, type AdminServer } from "../../src/control/admin/admin-server.ts";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createNatsTransport, type NatsTransport } from "../../src/transport/nats/nats-transport.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";

const logger = createLogger({ level: "silent" });
let nats: NatsServer;
let sim: Simulator;
before(async () => {
  nats = await startNatsServer();
  sim = await startSimulator({ models: ["m:ok"], ttftMs: 2, tokensPerSecond: 0, parallel: 64 });
});
after(async () => {
  await sim.close();
  await nats.stop();
});

const config = (url: string) => `
nodes:
  - { id: n1, url: "${url}", models: ["m:ok"] }
routes:
  - name: chat
    variants:
      - { name: stable, model: "m:ok" }
`;

interface Control {
  transport: NatsTransport;
  controlPlane: ControlPlane;
  admin: AdminServer;
}

/** A control plane "process": its own NATS connection, the durable consumer "control-a", an admin server. */
async function startControl(adminPort: number): Promise<Control> {
  const transport = await createNatsTransport({ servers: nats.url, name: "turnout-control", logger });
  const { state } = parseConfig(config(sim.url), "test config");
  const controlPlane = await createControlPlane({
    store: transport.store,
    logger,
    bootstrap: state,
    outcomes: transport.outcomes,
    consumerName: "control-a",
  });
  const admin = await startAdminServer({ port: adminPort, host: "127.0.0.1", controlPlane, logger });
  return { transport, controlPlane, admin };
}

/** Stops it as a process would: streams end, the consumer stops (acks sent), then the connection drains. */
async function stopControl(c: Control): Promise<void> {
  await c.controlPlane.close();
  await c.admin.close();
  await c.transport.close();
}

test("NATS: a control plane closed and restarted under load rebuilds its window from the log and counts every outcome exactly once; WatchMetrics resumes", async () => {
  const proxyTransport = await createNatsTransport({ servers: nats.url, name: "turnout-proxy", logger });
  const first = await startControl(0);
  const adminPort = first.admin.port;
  const proxy = await startProxy({ store: proxyTransport.store, outcomes: proxyTransport.outcomes, port: 0, logger, id: "p1" });
  await proxy.waitForVersion(Number(first.controlPlane.currentSnapshot().version));
  const metrics = createClient(
    MetricsService,
    createConnectTransport({ baseUrl: `http://127.0.0.1:${adminPort}`, httpVersion: "1.1" }),
  );

  // Steady load: 8 clients in a loop; `answered` counts 200s, `reached(n)` resolves at n.
  let answered = 0;
  let failed = 0;
  let stop = false;
  const targets: { n: number; resolve: () => void }[] = [];
  const reached = (n: number) => new Promise<void>((resolve) => targets.push({ n: answered + n, resolve }));
  const client = async () => {
    while (!stop) {
      const res = await request(`${proxy.url}/api/chat`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "chat", stream: false, messages: [{ role: "user", content: "hi" }] }),
      });
      await res.body.text();
      if (res.statusCode === 200) answered++;
      else failed++;
      for (const t of targets) if (answered >= t.n) t.resolve();
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, client));
  let second: Control | undefined;
  try {
    // A client watches the first control plane; the stream ends when it closes.
    const watchA = (async () => {
      let windows = 0;
      try {
        for await (const _ of metrics.watchMetrics({ intervalMs: 100 })) windows++;
      } catch {
        // the server went away: also an end
      }
      return windows;
    })();

    await reached(200);
    await stopControl(first);
    const countedByFirst = first.controlPlane.metrics.aggregator.outcomesTotal();
    assert.ok(countedByFirst > 0, "the first control plane consumed outcomes before it stopped");
    assert.ok((await watchA) >= 1, "the first watch saw windows, then ended");

    await reached(200); // requests keep flowing while no control plane runs
    second = await startControl(adminPort);
    await second.controlPlane.metrics.rebuilt();
    assert.ok(
      second.controlPlane.metrics.aggregator.outcomesTotal() >= countedByFirst,
      "the restarted control plane replayed what the first one had counted",
    );
    await reached(200);
    stop = true;
    await load;
    await proxy.close(); // appends the last batch
    const sent = answered;
    assert.equal(failed, 0);

    // The client watches again on the same address: the new control plane rebuilt what the first
    // had counted, resumed the durable consumer and catches up to every request sent.
    const watch = new AbortController();
    let total = 0;
    let windows = 0;
    for await (const msg of metrics.watchMetrics(
      { intervalMs: 100, windowSeconds: 3600 },
      { signal: AbortSignal.any([watch.signal, AbortSignal.timeout(30_000)]) },
    )) {
      windows++;
      total = Number(msg.window?.outcomesTotal);
      if (total >= sent) break;
    }
    watch.abort();
    assert.ok(windows >= 1);
    assert.equal(total, sent, `the second control plane counted ${total} of ${sent} sent (the first had ${countedByFirst})`);
    const { window } = await metrics.getMetrics({ windowSeconds: 3600 });
    assert.equal(Number(window?.series[0].requests), sent, "the second control plane's window holds every request of the hour");
    assert.equal(second.controlPlane.metrics.aggregator.duplicatesTotal(), 0);
  } finally {
    stop = true;
    await load;
    await proxy.close();
    if (second) await stopControl(second);
    await stopControl(first);
    await proxyTransport.close();
  }
});
