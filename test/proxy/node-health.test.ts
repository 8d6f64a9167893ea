import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeHealthChange } from "../../src/proxy/upstream/node-health.ts";
import { NodeUpstream } from "../../src/proxy/upstream/node-upstream.ts";
import { resilienceSettings } from "../../src/proxy/upstream/resilience-settings.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { compileRoutingTable, releaseUpstreams } from "../../src/proxy/snapshot/routing-table.ts";
import { buildSnapshot, startProxyFixture } from "./proxy-harness.ts";
import { until } from "../support/until.ts";

const MODEL = "llama3:8b";
const TIMEOUTS = { connectTimeoutMs: 1000, firstByteTimeoutMs: 5000, idleTimeoutMs: 5000 };

async function load(sim: Simulator, keepAlive?: number): Promise<void> {
  const res = await fetch(`${sim.url}/api/generate`, {
    method: "POST",
    body: JSON.stringify({ model: MODEL, keep_alive: keepAlive }),
  });
  await res.json();
}

describe("active health checks", () => {
  it("take a node out after unhealthy_threshold failed probes and back after healthy_threshold passing ones", async () => {
    let sim = await startSimulator({ models: [MODEL] });
    const port = sim.port;
    const upstream = new NodeUpstream(sim.url, TIMEOUTS);
    upstream.tables = 1;
    const changes: NodeHealthChange[] = [];
    const settings = resilienceSettings({
      healthCheck: { intervalMs: 50, timeoutMs: 2000, unhealthyThreshold: 3, healthyThreshold: 2 },
    } as never);
    upstream.health.configure(settings, "n1", (c) => changes.push(c));
    try {
      // The first probe runs at once and learns what is resident.
      await until("the first probe", () => upstream.health.resident !== null);
      assert.deepEqual([...upstream.health.resident!], []);
      await load(sim);
      await until("the probe to see the loaded model", () => upstream.health.resident?.has(MODEL) === true);
      await load(sim, 0); // unload
      await until("the probe to see the unload", () => upstream.health.resident?.has(MODEL) === false);
      assert.equal(upstream.health.available, true);
      assert.equal(changes.length, 0);

      await sim.close();
      await until("the node to be taken out", () => changes.length === 1);
      assert.deepEqual(changes[0], { node: "n1", baseUrl: sim.url, healthy: false, reason: changes[0].reason });
      assert.match(changes[0].reason, /^active health check failed 3 times \(last: ECONNREFUSED\)$/);
      assert.equal(upstream.health.available, false);
      assert.equal(upstream.health.resident, null, "residency is unknown while the node does not answer");

      sim = await startSimulator({ models: [MODEL], port });
      await until("the node to come back", () => changes.length === 2);
      assert.equal(changes[1].healthy, true);
      assert.match(changes[1].reason, /^active health check passed 2 times$/);
      assert.equal(upstream.health.available, true);
    } finally {
      await upstream.release();
      await sim.close();
    }
  });

  it("stop when the upstream's pool closes", async () => {
    const sim = await startSimulator({ models: [MODEL] });
    const upstream = new NodeUpstream(sim.url, TIMEOUTS);
    upstream.tables = 1;
    upstream.health.configure(resilienceSettings({ healthCheck: { intervalMs: 50 } } as never), "n1", undefined);
    try {
      await until("the first probe", () => upstream.health.resident !== null);
      assert.notEqual(upstream.health.timer, undefined, "the next probe is scheduled");
      await upstream.release();
      assert.equal(upstream.health.timer, undefined);
      assert.equal(upstream.pool.closed, true);
      // Reconfiguring a closed upstream (a table compiled against it late) does not restart probes.
      upstream.health.configure(resilienceSettings({ healthCheck: { intervalMs: 60 } } as never), "n1", undefined);
      assert.equal(upstream.health.timer, undefined);
    } finally {
      await sim.close();
    }
  });

  it("off: no probes, and the node stays in rotation", async () => {
    const upstream = new NodeUpstream("http://127.0.0.1:9", TIMEOUTS);
    upstream.tables = 1;
    upstream.health.configure(resilienceSettings({ healthCheck: { disabled: true } } as never), "n1", undefined);
    assert.equal(upstream.health.timer, undefined);
    assert.equal(upstream.health.available, true);
    await upstream.release();
  });
});

describe("health across snapshots", () => {
  it("lives with the shared upstream: a snapshot that keeps the node keeps its ejection, one that drops it stops its probes", async () => {
    const upstreams = new Map<string, NodeUpstream>();
    const spec = (version: number, urls: string[]) =>
      buildSnapshot({
        version,
        nodes: urls.map((url, i) => ({ id: `n${i}`, url })),
        routes: [{ name: "m", variants: [{ name: "v", model: MODEL }] }],
        settings: { healthCheck: { disabled: true }, outlierDetection: { consecutiveFailures: 1, baseEjectionMs: 60_000 } },
      });
    const v1 = compileRoutingTable(spec(1, ["http://127.0.0.1:1", "http://127.0.0.1:2"]), upstreams, () => {});
    const n0 = v1.nodes[0].upstream;
    n0.health.onFailure("ECONNREFUSED", true);
    assert.equal(n0.health.available, false);
    const v2 = compileRoutingTable(spec(2, ["http://127.0.0.1:1"]), upstreams, () => {});
    assert.equal(v2.nodes[0].upstream, n0, "the same upstream object");
    assert.equal(v2.nodes[0].upstream.health.available, false, "still ejected");
    await releaseUpstreams(v1, upstreams);
    assert.equal(upstreams.size, 1, "the dropped node's upstream is gone");
    await releaseUpstreams(v2, upstreams);
    assert.equal(n0.pool.closed, true);
  });
});

describe("node choice by residency", () => {
  it("sends requests to the node with the variant's model resident rather than one where it is cold", async () => {
    const f = await startProxyFixture({ sims: [{ models: [MODEL] }, { models: [MODEL], loadMs: 2000 }] });
    try {
      const [warm, cold] = f.sims;
      await load(warm);
      await f.publish({
        version: 1,
        nodes: [
          { id: "warm", url: warm.url },
          { id: "cold", url: cold.url },
        ],
        routes: [{ name: "m", variants: [{ name: "v", model: MODEL }] }],
        settings: { healthCheck: { intervalMs: 200, timeoutMs: 200 } },
      });
      const metrics = async () => await (await fetch(`${f.proxy.url}/metrics`)).text();
      await until("both nodes probed", async () => {
        const text = await metrics();
        return (
          text.includes('turnout_proxy_node_residency_known{node="cold"} 1') &&
          text.includes(`turnout_proxy_node_model_resident{node="warm",model="${MODEL}"} 1`)
        );
      });
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${f.proxy.url}/api/chat`, {
          method: "POST",
          body: JSON.stringify({ model: "m", stream: false, messages: [{ role: "user", content: `q${i}` }] }),
        });
        assert.equal(res.status, 200);
        await res.json();
      }
      assert.equal(cold.stats().requests, 0, "no request paid for a cold load");
      assert.ok(f.outcomes.every((o) => o.node === "warm"));
    } finally {
      await f.close();
    }
  });
});
