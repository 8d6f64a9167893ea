import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CompiledNode } from "../../src/proxy/snapshot/routing-table.ts";
import type { NodeUpstream } from "../../src/proxy/upstream/node-upstream.ts";
import { NoNode, pickNode } from "../../src/proxy/upstream/pick-node.ts";

function node(id: string, inFlight: number, maxConcurrent = 0, coolUntil = 0, fleetInFlight = 0): CompiledNode {
  return { id, maxConcurrent, upstream: { inFlight, coolUntil, fleetInFlight } as NodeUpstream };
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
