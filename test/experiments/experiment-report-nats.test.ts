/**
 * Distributed mode: an experiment stored in JetStream KV, a proxy and a control plane each on its
 * own NATS connection, outcomes and feedback in the TURNOUT_OUTCOMES stream. A control plane
 * closed and started again mid-experiment reports every number as before; answers and feedback
 * given while no control plane runs are counted once it is back.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, toJson } from "@bufbuild/protobuf";
import { Agent, request } from "undici";
import {
  ExperimentReportSchema,
  ExperimentServiceCreateRequestSchema,
  ExperimentStatus,
  type ExperimentReport,
} from "../../gen/turnout/v1/experiment_pb.js";
import { NodeSchema, RouteSchema, VariantSchema } from "../../gen/turnout/v1/routing_pb.js";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy, type Proxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createNatsTransport, type NatsTransport } from "../../src/transport/nats/nats-transport.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { until } from "../support/until.ts";

const logger = createLogger({ level: "silent" });
let nats: NatsServer;
let simA: Simulator;
let simB: Simulator;
let dir: string;
before(async () => {
  nats = await startNatsServer();
  simA = await startSimulator({ models: ["m:a"], ttftMs: 3, outputTokens: 2, parallel: 64, errorRate: 0.02, seed: 5 });
  simB = await startSimulator({ models: ["m:b"], ttftMs: 15, outputTokens: 2, parallel: 64, errorRate: 0.1, seed: 6 });
  dir = await mkdtemp(join(tmpdir(), "turnout-exp-nats-"));
});
after(async () => {
  await simA.close();
  await simB.close();
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Control {
  transport: NatsTransport;
  plane: ControlPlane;
}

/** A control plane "process": its own connection and the durable consumer "control". */
async function startControl(): Promise<Control> {
  const transport = await createNatsTransport({ servers: nats.url, name: "turnout-control", logger });
  const bootstrap = {
    nodes: [
      create(NodeSchema, { id: "na", baseUrl: simA.url, models: ["m:a"] }),
      create(NodeSchema, { id: "nb", baseUrl: simB.url, models: ["m:b"] }),
    ],
    routes: [
      create(RouteSchema, {
        name: "chat",
        variants: [create(VariantSchema, { name: "a", model: "m:a" }), create(VariantSchema, { name: "b", model: "m:b" })],
        defaultVariant: "a",
      }),
    ],
  };
  const plane = await createControlPlane({
    store: transport.store,
    bus: transport.bus,
    logger,
    bootstrap,
    outcomes: transport.outcomes,
    consumerName: "control",
  });
  return { transport, plane };
}

async function stopControl(c: Control): Promise<void> {
  await c.plane.close();
  await c.transport.close();
}

/** The report's numbers without its timestamp. */
function numbers(r: ExperimentReport): unknown {
  const json = toJson(ExperimentReportSchema, r) as Record<string, unknown>;
  delete json.generatedAt;
  return json;
}

/** Thumbs sent, per arm. */
interface Sent {
  thumbs: number[];
  ups: number[];
}

/** Users `from`..`to`-1 ask once each; every answered one sends a thumb (a: up when u % 3 ≠ 0, b: when u % 3 = 0), alternating the two endpoints. */
async function traffic(proxy: Proxy, from: number, to: number, sent: Sent): Promise<number> {
  const agent = new Agent({ connections: 32 });
  let next = from;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < to) {
        const u = next++;
        const res = await request(`${proxy.url}/api/chat`, {
          method: "POST",
          dispatcher: agent,
          headers: { "content-type": "application/json", "x-turnout-user": `user-${u}` },
          body: JSON.stringify({ model: "chat", stream: false, messages: [{ role: "user", content: "hi" }] }),
        });
        await res.body.text();
        if (res.statusCode !== 200) continue;
        const arm = res.headers["x-turnout-variant"] === "a" ? 0 : 1;
        const value = (arm === 0) === (u % 3 !== 0) ? 1 : 0;
        const viaRpc = u % 2 === 1;
        const fb = await request(`${proxy.url}${viaRpc ? "/turnout.v1.ChatService/Feedback" : "/v1/feedback"}`, {
          method: "POST",
          dispatcher: agent,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ ref: res.headers["x-turnout-ref"], metric: "thumbs_up", value }),
        });
        assert.equal(fb.statusCode, viaRpc ? 200 : 202, await fb.body.text());
        sent.thumbs[arm]++;
        sent.ups[arm] += value;
      }
    }),
  );
  await agent.close();
  return to - from;
}

/** The report once it counts `outcomes` outcomes and `sent` thumbs (20 s at most). */
async function settled(plane: ControlPlane, outcomes: number, sent: Sent): Promise<ExperimentReport> {
  let seen = "nothing yet";
  return until(
    () => `the report to count ${outcomes} outcomes and ${sent.thumbs} thumbs; it counts ${seen}`,
    async () => {
      const r = await plane.reports.get("ab");
      const thumbs = r.arms.map((a) => Number(a.feedback.find((f) => f.metric === "thumbs_up")?.count ?? 0));
      seen = `${r.outcomes} outcomes and ${thumbs} thumbs`;
      return Number(r.outcomes) >= outcomes && thumbs.every((n, arm) => n >= sent.thumbs[arm]) && r;
    },
    { timeoutMs: 20_000, intervalMs: 50 },
  );
}

test("NATS: a control plane restarted mid-experiment reports the same numbers, and counts what came while it was down", {
  timeout: 90_000,
}, async () => {
  const proxyTransport = await createNatsTransport({ servers: nats.url, name: "turnout-proxy", logger });
  let control = await startControl();
  let proxy: Proxy | undefined;
  try {
    await control.plane.experiments.create(
      create(ExperimentServiceCreateRequestSchema, {
        id: "ab",
        name: "ab",
        route: "chat",
        duration: "24h",
        arms: [
          { name: "a", weight: 50 },
          { name: "b", weight: 50 },
        ],
      }),
    );
    const started = await control.plane.experiments.start("ab");
    proxy = await startProxy({
      store: proxyTransport.store,
      bus: proxyTransport.bus,
      outcomes: proxyTransport.outcomes,
      port: 0,
      host: "127.0.0.1",
      logger,
      id: "p1",
      dataDir: join(dir, "proxy"),
      refSecret: "nats-report-test-secret-0123",
    });
    await proxy.waitForVersion(started.snapshotVersion, AbortSignal.timeout(5000));

    const sent: Sent = { thumbs: [0, 0], ups: [0, 0] };
    let asked = await traffic(proxy, 0, 600, sent);
    const before = await settled(control.plane, asked, sent);
    assert.equal(Number(before.outcomes), asked);
    assert.equal(Number(before.arms[0].users + before.arms[1].users), asked);
    assert.equal(before.comparisons.find((c) => c.metric === "ttft_ms")!.outcome, "worse");
    assert.equal(before.comparisons.find((c) => c.metric === "thumbs_up")!.outcome, "worse");

    // restart: every number the same
    await stopControl(control);
    control = await startControl();
    await control.plane.metrics.rebuilt();
    assert.equal((await control.plane.experiments.get("ab")).value.status, ExperimentStatus.RUNNING);
    assert.deepEqual(numbers(await control.plane.reports.get("ab")), numbers(before));

    // down again: the proxy keeps answering and taking feedback into the stream
    await stopControl(control);
    asked += await traffic(proxy, 600, 900, sent);
    control = await startControl();
    const after = await settled(control.plane, asked, sent);
    assert.equal(Number(after.outcomes), asked, "each outcome once");
    assert.equal(Number(after.arms[0].users + after.arms[1].users), asked);
    for (const arm of [0, 1]) {
      const thumbs = after.arms[arm].feedback.find((f) => f.metric === "thumbs_up")!;
      assert.equal(Number(thumbs.count), sent.thumbs[arm], `arm ${arm} thumbs, each once`);
      assert.ok(Math.abs(thumbs.mean - sent.ups[arm] / sent.thumbs[arm]) < 1e-12);
    }
  } finally {
    await proxy?.close();
    await stopControl(control).catch(() => {});
    await proxyTransport.close();
  }
});
