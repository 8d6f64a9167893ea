import { test } from "node:test";
import assert from "node:assert/strict";
import { SyncState } from "../../gen/turnout/v1/fleet_pb.js";
import { chat, controlClients, startCluster, waitForFleet } from "./distributed-support.ts";

test("2 control planes and 3 proxies over NATS: a change through either reaches every proxy, with convergence reported", async () => {
  const cluster = await startCluster();
  try {
    const c1 = controlClients((await cluster.startControl("c1")).url);
    const c2 = controlClients((await cluster.startControl("c2", false)).url);
    const proxies = await Promise.all(["p1", "p2", "p3"].map((id) => cluster.startProxy(id)));
    const allOn = (version: bigint) => (view: Parameters<Parameters<typeof waitForFleet>[1]>[0]) =>
      view.proxies.filter((p) => p.sync === SyncState.SYNCED && p.status?.appliedVersion === version).length === 3;
    await waitForFleet(c2, allOn(1n));

    // A change through the second control plane (which did not bootstrap the state).
    const switched = await c2.admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 10_000 });
    assert.equal(switched.convergence?.converged, true);
    assert.equal(switched.convergence?.synced, 3);
    assert.equal(switched.convergence?.live, 3);
    assert.ok((switched.convergence?.publishToLastAckMs ?? 0) > 0, "publish-to-last-ACK time is reported");
    for (const p of proxies) assert.equal((await chat(p.url)).variant, "small");

    // A change through the first, seen by the second's fleet view.
    const weights = await c1.admin.setWeights({
      route: "qwen3-32b",
      weights: [
        { variant: "big", weight: 50 },
        { variant: "small", weight: 50 },
      ],
      waitForFleetMs: 10_000,
    });
    assert.equal(weights.convergence?.converged, true);
    const listed = await c2.fleet.listProxies({});
    assert.deepEqual(
      listed.proxies.map((p) => p.status?.id),
      ["p1", "p2", "p3"],
    );
    for (const p of listed.proxies) {
      assert.equal(p.status?.appliedVersion, weights.snapshotVersion);
      assert.equal(p.sync, SyncState.SYNCED);
    }
    assert.equal(listed.latest?.version, weights.snapshotVersion);
    assert.equal(listed.latest?.converged, true);
    const convergence = await c1.fleet.getConvergence({ version: weights.snapshotVersion });
    assert.equal(convergence.convergence?.synced, 3);
    assert.ok((convergence.convergence?.publishToLastAckMs ?? 0) > 0);

    // Every proxy assigns the same user to the same arm.
    for (const user of ["ann", "bob", "cy"]) {
      const seen = new Set(await Promise.all(proxies.map(async (p) => (await chat(p.url, user)).variant)));
      assert.equal(seen.size, 1, `user ${user} gets one variant on every proxy`);
    }
  } finally {
    await cluster.close();
  }
});
