import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CompiledNode } from "../../src/proxy/snapshot/routing-table.ts";
import type { NodeHealth } from "../../src/proxy/upstream/node-health.ts";
import type { NodeUpstream } from "../../src/proxy/upstream/node-upstream.ts";
import { COLD_PENALTY, NoNode, pickNode } from "../../src/proxy/upstream/pick-node.ts";

const M = "llama3:8b";

function node(id: string, inFlight: number, maxConcurrent = 0, coolUntil = 0, health: Partial<NodeHealth> = {}): CompiledNode {
  const h = { available: true, resident: null, ...health } as NodeHealth;
  return { id, maxConcurrent, upstream: { inFlight, coolUntil, health: h } as NodeUpstream };
}

describe("node choice", () => {
  it("of two nodes always takes the one with fewer requests in flight", () => {
    const nodes = [node("a", 3), node("b", 1)];
    for (let i = 0; i < 50; i++) assert.equal((pickNode(nodes, M) as CompiledNode).id, "b");
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
