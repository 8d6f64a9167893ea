import assert from "node:assert/strict";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { createLogger } from "../../src/log.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { connectNats } from "../../src/transport/nats/nats-connection.ts";
import { createNatsEventBus } from "../../src/transport/nats/nats-event-bus.ts";
import { startProxyFixture } from "../proxy/proxy-harness.ts";
import { startNatsServer } from "../support/nats-server.ts";

const MODEL = "llama3:8b";

test("a plain NATS subscriber sees NodeHealthChanged JSON on turnout.events.node when a node goes down and comes back", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const link = await connectNats({ servers: server.url, name: "proxy", logger: createLogger({ level: "silent" }) });
  t.after(() => link.close());
  const nc = await connect({ servers: server.url });
  t.after(() => nc.close());

  const received: Record<string, unknown>[] = [];
  let wake: (() => void) | null = null;
  const sub = nc.subscribe("turnout.events.node", {
    callback: (_err, msg) => {
      received.push(msg.json<Record<string, unknown>>());
      wake?.();
    },
  });
  t.after(() => sub.unsubscribe());
  await nc.flush();
  const next = async (count: number) => {
    const deadline = Date.now() + 10_000;
    while (received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} events, got ${JSON.stringify(received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return received[count - 1];
  };

  const f = await startProxyFixture({
    bus: createNatsEventBus({ link, logger: createLogger({ level: "silent" }) }),
    sims: [{ models: [MODEL] }],
    snapshot: (urls) => ({
      version: 1,
      nodes: [{ id: "gpu-1", url: urls[0] }],
      routes: [{ name: "m", variants: [{ name: "v", model: MODEL }] }],
      settings: { healthCheck: { intervalMs: 200, timeoutMs: 200, unhealthyThreshold: 3, healthyThreshold: 2 } },
    }),
  });
  let revived: Simulator | undefined;
  try {
    const [sim] = f.sims;
    await sim.close();
    const down = await next(1);
    assert.deepEqual(Object.keys(down).sort(), ["at", "baseUrl", "healthy", "node", "proxy", "reason"]);
    assert.equal(down.proxy, "test");
    assert.equal(down.node, "gpu-1");
    assert.equal(down.baseUrl, sim.url);
    assert.equal(down.healthy, false, "false is written out, not left to proto3's implicit default");
    assert.match(String(down.reason), /active health check failed 3 times/);
    assert.ok(!Number.isNaN(Date.parse(String(down.at))));

    revived = await startSimulator({ models: [MODEL], port: sim.port });
    const up = await next(2);
    assert.equal(up.node, "gpu-1");
    assert.equal(up.healthy, true);
    assert.match(String(up.reason), /active health check passed 2 times/);
  } finally {
    await f.close();
    await revived?.close();
  }
});
