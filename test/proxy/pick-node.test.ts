import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CompiledNode } from "../../src/proxy/snapshot/routing-table.ts";
import { NodeUpstream } from "../../src/proxy/upstream/node-upstream.ts";
import { COMPARE_ALL_UP_TO, NoNode, pickNode } from "../../src/proxy/upstream/pick-node.ts";

function node(id: string, inFlight: number, maxConcurrent = 0, coolUntil = 0, fleetInFlight = 0, secondsPerRequest = 0): CompiledNode {
  return { id, maxConcurrent, upstream: { inFlight, coolUntil, fleetInFlight, secondsPerRequest, typical: { secondsPerRequest: 0 } } as NodeUpstream };
}

describe("node choice", () => {
  it("of two nodes always takes the one with fewer requests in flight", () => {
    const nodes = [node("a", 3), node("b", 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(nodes) as CompiledNode).id, "b");
  });

  it("counts the other proxies' requests in flight on a node as well as its own", () => {
    const nodes = [node("a", 0, 0, 0, 3), node("b", 1, 0, 0, 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(nodes) as CompiledNode).id, "b");
  });

  it("weighs a node's queue by its observed seconds per request: two queued on a fast node beat an idle slow one", () => {
    const nodes = [node("fast", 1, 0, 0, 1, 0.25), node("slow", 0, 0, 0, 0, 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(nodes) as CompiledNode).id, "fast");
    const deeper = [node("fast", 2, 0, 0, 2, 0.25), node("slow", 0, 0, 0, 0, 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(deeper) as CompiledNode).id, "slow");
  });

  it("compares every candidate of a small variant: the one node with the least expected wait wins every time", () => {
    const nodes = [node("a", 2, 0, 0, 0, 0.5), node("b", 1, 0, 0, 1, 0.5), node("best", 1, 0, 0, 2, 0.1), node("d", 0, 0, 0, 0, 2)];
    for (let i = 0; i < 100; i++) assert.equal((pickNode(nodes) as CompiledNode).id, "best");
  });

  it("spreads ties between equally loaded nodes", () => {
    const nodes = ["a", "b", "c", "d"].map((id) => node(id, 0));
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) seen.add((pickNode(nodes) as CompiledNode).id);
    assert.deepEqual([...seen].sort(), ["a", "b", "c", "d"]);
  });

  it(`on more than ${COMPARE_ALL_UP_TO} nodes still picks by load between two candidates (never the most loaded)`, () => {
    const nodes = Array.from({ length: COMPARE_ALL_UP_TO + 4 }, (_, i) => node(`n${i}`, i === 0 ? 50 : 1));
    for (let i = 0; i < 200; i++) assert.notEqual((pickNode(nodes) as CompiledNode).id, "n0");
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
    for (let i = 0; i < 50; i++) assert.equal((pickNode(nodes) as CompiledNode).id, "b");
    assert.equal(pickNode([node("a", 1, 1), node("b", 2, 2)]), NoNode.Full);
    assert.equal(pickNode([node("a", 1, 1)]), NoNode.Full);
  });

  it("never returns the excluded node and reports None when nothing else is left", () => {
    const a = node("a", 0);
    const b = node("b", 9);
    for (let i = 0; i < 50; i++) assert.equal(pickNode([a, b], a), b);
    assert.equal(pickNode([a], a), NoNode.None);
    assert.equal(pickNode([]), NoNode.None);
  });

  it("avoids a node cooling down after a refusal or 503 while another can serve, but uses it as a last resort", () => {
    const later = performance.now() + 60_000;
    const cooling = node("cool", 0, 0, later);
    const busy = node("busy", 7);
    for (let i = 0; i < 50; i++) assert.equal(pickNode([cooling, busy]), busy);
    assert.equal(pickNode([cooling, node("x", 0, 0, later)], undefined) !== NoNode.Full, true);
    assert.equal(pickNode([cooling]), cooling);
  });
});
