import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { ApplyState } from "../../gen/turnout/v1/events_pb.js";
import { SyncState } from "../../gen/turnout/v1/fleet_pb.js";
import { RoutingSnapshotSchema, VariantSchema } from "../../gen/turnout/v1/routing_pb.js";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";
import { chat, controlClients, startCluster, waitForFleet } from "./distributed-support.ts";

test("a malformed snapshot written straight into the KV key: every proxy NACKs with the reason and keeps serving; the next change recovers", async () => {
  const cluster = await startCluster();
  const nc = await connect({ servers: cluster.nats.url });
  try {
    const c1 = controlClients((await cluster.startControl("c1")).url);
    await Promise.all(["p1", "p2", "p3"].map((id) => cluster.startProxy(id)));
    const good = (await c1.admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 10_000 })).snapshotVersion;
    const kv = await new Kvm(nc).open("turnout_state");

    // A newer version whose variant names a node that does not exist (hash consistent, content not).
    const current = (await c1.admin.getSnapshot({})).snapshot!;
    const bad = create(RoutingSnapshotSchema, { ...current, version: good + 1n, parentVersion: good });
    bad.routes[0].variants.push(create(VariantSchema, { name: "ghost", model: "qwen3:8b", nodes: ["gpu-404"] }));
    bad.contentHash = snapshotContentHash(bad);
    await kv.put("snapshot.current", toBinary(RoutingSnapshotSchema, bad));

    await waitForFleet(c1, (view) => view.proxies.filter((p) => p.sync === SyncState.NACKED).length === 3);
    const listed = await c1.fleet.listProxies({});
    for (const p of listed.proxies) {
      assert.equal(p.status?.state, ApplyState.NACK);
      assert.equal(p.status?.version, good + 1n);
      assert.equal(p.status?.appliedVersion, good);
      assert.match(p.status?.error ?? "", /gpu-404/);
    }
    assert.equal(listed.latest?.nacked, 3);
    for (const p of cluster.proxies.values()) {
      const r = await chat(p.url);
      assert.equal(r.status, 200);
      assert.equal(r.snapshot, Number(good), "the proxy keeps serving its last good snapshot");
      assert.equal(r.variant, "small");
    }

    // Bytes that are no snapshot at all are NACKed too.
    await kv.put("snapshot.current", new TextEncoder().encode("not a snapshot"));
    await waitForFleet(c1, (view) =>
      view.proxies.every((p) => p.sync === SyncState.NACKED && /malformed snapshot/.test(p.status?.error ?? "")),
    );

    // The next admin change publishes a consistent, newer snapshot and the fleet converges.
    const next = await c1.admin.switchModel({ route: "qwen3-32b", variant: "big", waitForFleetMs: 10_000 });
    assert.ok(next.snapshotVersion > good + 1n, `version ${next.snapshotVersion} is newer than the bad one`);
    assert.equal(next.convergence?.synced, 3);
    for (const p of cluster.proxies.values()) assert.equal((await chat(p.url)).variant, "big");
  } finally {
    await nc.close();
    await cluster.close();
  }
});
