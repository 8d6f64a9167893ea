import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CompiledNode } from "../../src/proxy/snapshot/compiled-route.ts";
import type { NodeHealth } from "../../src/proxy/upstream/node-health.ts";
import { NodeUpstream } from "../../src/proxy/upstream/node-upstream.ts";
import { COLD_PENALTY, COMPARE_ALL_UP_TO, NoNode, pickNode } from "../../src/proxy/upstream/pick-node.ts";

const M = "llama3:8b";

/** A node with its counters; `fleet` is the other proxies' in-flight count, or the node's health. */
function node(
  id: string,
  inFlight: number,
  maxConcurrent = 0,
  coolUntil = 0,
  fleet: number | Partial<NodeHealth> = 0,
  secondsPerRequest = 0,
): CompiledNode {
  const fleetInFlight = typeof fleet === "number" ? fleet : 0;
  const h = { available: true, resident: null, ...(typeof fleet === "number" ? {} : fleet) } as NodeHealth;
  return {
    id,
    maxConcurrent,
    upstream: {
      inFlight,
      coolUntil,
      fleetInFlight,
      secondsPerRequest,
      typical: { secondsPerRequest: 0 },
      health: h,
    } as NodeUpstream,
  };
}

describe("node choice", () => {
  it("of two nodes always takes the one with fewer requests in flight", () => {
    const nodes = [node("a", 3), node("b", 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(nodes, M) as CompiledNode).id, "b");
  });

  it("counts the other proxies' requests in flight on a node as well as its own", () => {
    const nodes = [node("a", 0, 0, 0, 3), node("b", 1, 0, 0, 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(nodes, M) as CompiledNode).id, "b");
  });

  it("weighs a node's queue by its observed seconds per request: two queued on a fast node beat an idle slow one", () => {
    const nodes = [node("fast", 1, 0, 0, 1, 0.25), node("slow", 0, 0, 0, 0, 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(nodes, M) as CompiledNode).id, "fast");
    const deeper = [node("fast", 2, 0, 0, 2, 0.25), node("slow", 0, 0, 0, 0, 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(deeper, M) as CompiledNode).id, "slow");
  });

  it("compares every candidate of a small variant: the one node with the least expected wait wins every time", () => {
    const nodes = [
      node("a", 2, 0, 0, 0, 0.5),
      node("b", 1, 0, 0, 1, 0.5),
      node("best", 1, 0, 0, 2, 0.1),
      node("d", 0, 0, 0, 0, 2),
    ];
    for (let i = 0; i < 100; i++) assert.equal((pickNode(nodes, M) as CompiledNode).id, "best");
  });

  it("spreads ties between equally loaded nodes", () => {
    const nodes = ["a", "b", "c", "d"].map((id) => node(id, 0));
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) seen.add((pickNode(nodes, M) as CompiledNode).id);
    assert.deepEqual([...seen].sort(), ["a", "b", "c", "d"]);
  });

  it(`on more than ${COMPARE_ALL_UP_TO} nodes still picks by load between two candidates (never the most loaded)`, () => {
    const nodes = Array.from({ length: COMPARE_ALL_UP_TO + 4 }, (_, i) => node(`n${i}`, i === 0 ? 50 : 1));
    for (let i = 0; i < 200; i++) assert.notEqual((pickNode(nodes, M) as CompiledNode).id, "n0");
  });

  it("learns seconds per request from finished requests, divided by the queue they were dispatched into", async () => {
    const u = new NodeUpstream("http://127.0.0.1:9", { connectTimeoutMs: 100, firstByteTimeoutMs: 100, idleTimeoutMs: 100 });
    try {
      u.observe(2, 4);
      assert.equal(u.secondsPerRequest, 0.5);
      u.observe(1, 1);
      assert.ok(Math.abs(u.secondsPerRequest - 0.6) < 1e-9); // 0.5 + 0.2 × (1 − 0.5)
      assert.ok(Math.abs(u.typical.secondsPerRequest - 0.6) < 1e-9, "the proxy's typical value follows too");
    } finally {
      await u.pool.close();
    }
  });

  it("skips nodes at max_concurrent and reports Full when all are", () => {
    const nodes = [node("a", 2, 2), node("b", 5, 0), node("c", 1, 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(nodes, M) as CompiledNode).id, "b");
    assert.equal(pickNode([node("a", 1, 1), node("b", 2, 2)], M), NoNode.Full);
    assert.equal(pickNode([node("a", 1, 1)], M), NoNode.Full);
  });

  it("never returns the excluded node and reports None when nothing else is left", () => {
    const a = node("a", 0);
    const b = node("b", 9);
    for (let i = 0; i < 50; i++) assert.equal(pickNode([a, b], M, a), b);
    assert.equal(pickNode([a], M, a), NoNode.None);
    assert.equal(pickNode([], M), NoNode.None);
  });

  it("avoids a node cooling down after a refusal or 503 while another can serve, but uses it as a last resort", () => {
    const later = performance.now() + 60_000;
    const cooling = node("cool", 0, 0, later);
    const busy = node("busy", 7);
    for (let i = 0; i < 50; i++) assert.equal(pickNode([cooling, busy], M), busy);
    assert.equal(pickNode([cooling, node("x", 0, 0, later)], M) !== NoNode.Full, true);
    assert.equal(pickNode([cooling], M), cooling);
  });

  it("skips nodes out of rotation while any node in rotation has room, and falls back to them when none has", () => {
    const ejected = node("ejected", 0, 0, 0, { available: false });
    const loaded = node("loaded", 20);
    const others = [node("o1", 9), node("o2", 9), node("o3", 9)];
    for (let i = 0; i < 100; i++) assert.notEqual(pickNode([ejected, loaded, ...others], M), ejected);
    // Every node in rotation is full: the ejected one is tried rather than refusing the request.
    assert.equal(pickNode([ejected, node("full", 1, 1)], M), ejected);
    assert.equal(pickNode([ejected], M), ejected);
  });

  it("prefers nodes with the variant's model resident over idler nodes where it is cold, up to COLD_PENALTY more in flight", () => {
    const warm = node("warm", COLD_PENALTY - 1, 0, 0, { resident: new Set([M]) });
    const cold = [1, 2, 3, 4].map((i) => node(`cold${i}`, 0, 0, 0, { resident: new Set(["other:1b"]) }));
    for (let i = 0; i < 100; i++) assert.equal(pickNode([...cold, warm], M), warm);
    // Busier than that: a cold node is warmed rather than queueing more on the warm one.
    const busyWarm = node("busy-warm", COLD_PENALTY + 1, 0, 0, { resident: new Set([M]) });
    for (let i = 0; i < 50; i++) assert.match((pickNode([...cold, busyWarm], M) as CompiledNode).id, /^cold/);
    // Unknown residency (no probe answer yet) counts as resident: load decides.
    const unknown = node("unknown", 1);
    for (let i = 0; i < 50; i++) assert.equal(pickNode([warm, unknown], M), unknown);
    // A full resident node: the cold ones take the request.
    const fullWarm = node("full-warm", 2, 2, 0, { resident: new Set([M]) });
    for (let i = 0; i < 50; i++) assert.match((pickNode([fullWarm, ...cold], M) as CompiledNode).id, /^cold/);
    // Out of rotation beats residency: an ejected warm node loses to a cold node in rotation.
    const ejectedWarm = node("ejected-warm", 0, 0, 0, { available: false, resident: new Set([M]) });
    for (let i = 0; i < 50; i++) assert.match((pickNode([ejectedWarm, cold[0]], M) as CompiledNode).id, /^cold/);
  });
});
