import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileRoutingTable, releaseUpstreams, type RoutingTable } from "../../src/proxy/snapshot/routing-table.ts";
import type { NodeUpstream } from "../../src/proxy/upstream/node-upstream.ts";
import { resolveRoute } from "../../src/proxy/routing/resolve-route.ts";
import { buildSnapshot } from "./proxy-harness.ts";

function snapshot(version: number, urls: string[]) {
  return buildSnapshot({
    version,
    nodes: urls.map((url, i) => ({ id: `n${i}`, url, models: i === 0 ? ["a:1"] : [] })),
    routes: [
      { name: "r", variants: [{ name: "v", model: "b:1" }] },
      { name: "only:latest", variants: [{ name: "v", model: "a:1" }] },
    ],
  });
}

describe("compiled routing tables", () => {
  it("resolves variants to the nodes that serve their model and normalises :latest", () => {
    const upstreams = new Map<string, NodeUpstream>();
    const table = compileRoutingTable(snapshot(1, ["http://127.0.0.1:1", "http://127.0.0.1:2"]), upstreams, () => {});
    assert.deepEqual(
      table.routes.get("r")!.defaultVariant.nodes.map((n) => n.id),
      ["n1"],
    );
    assert.deepEqual(
      table.routes.get("only:latest")!.defaultVariant.nodes.map((n) => n.id),
      ["n0", "n1"],
    );
    assert.equal(resolveRoute(table, "only")?.name, "only:latest");
    assert.equal(resolveRoute(table, "r:latest")?.name, "r");
    assert.equal(resolveRoute(table, "r:other"), undefined);
    return releaseUpstreams(table, upstreams);
  });

  it("reuses unchanged upstreams and closes a dropped one only after the last pinned request", async () => {
    const upstreams = new Map<string, NodeUpstream>();
    const disposed: RoutingTable[] = [];
    const onDispose = (t: RoutingTable) => disposed.push(t);
    const v1 = compileRoutingTable(snapshot(1, ["http://127.0.0.1:1", "http://127.0.0.1:2"]), upstreams, onDispose);
    const v2 = compileRoutingTable(snapshot(2, ["http://127.0.0.1:1"]), upstreams, onDispose);
    assert.equal(v2.nodes[0].upstream, v1.nodes[0].upstream, "same base URL and timeouts share the pool");
    const dropped = v1.nodes[1].upstream;

    v1.acquire(); // a request still streams on v1
    v1.retire();
    assert.deepEqual(disposed, []);
    v1.release();
    assert.deepEqual(disposed, [v1]);
    await releaseUpstreams(v1, upstreams);
    assert.equal(dropped.pool.closed, true);
    assert.equal(v2.nodes[0].upstream.pool.closed, false);
    assert.equal(upstreams.size, 1);
    v2.retire();
    await releaseUpstreams(v2, upstreams);
    assert.equal(upstreams.size, 0);
  });
});
