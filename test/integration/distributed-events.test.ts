import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { controlClients, startCluster } from "./distributed-support.ts";

test("a plain NATS subscriber receives the JSON config events of a change: the change, the snapshot, every proxy's ACK", async () => {
  const cluster = await startCluster();
  const nc = await connect({ servers: cluster.nats.url });
  try {
    const c1 = controlClients((await cluster.startControl("c1")).url);
    await Promise.all(["p1", "p2"].map((id) => cluster.startProxy(id)));
    await c1.admin.switchModel({ route: "qwen3-32b", variant: "big", waitForFleetMs: 10_000 }); // settle on v1

    const received: { subject: string; json: Record<string, unknown> }[] = [];
    let haveAll!: () => void;
    const all = new Promise<void>((resolve) => (haveAll = resolve));
    const sub = nc.subscribe("turnout.events.>", {
      callback: (_err, msg) => {
        received.push({ subject: msg.subject, json: msg.json<Record<string, unknown>>() });
        const acks = received.filter(
          (r) => r.subject === "turnout.events.proxy" && r.json.state === "APPLY_STATE_ACK" && r.json.appliedVersion === "2",
        );
        if (
          received.some((r) => r.subject === "turnout.events.config") &&
          received.some((r) => r.subject === "turnout.events.snapshot") &&
          acks.length === 2
        )
          haveAll();
      },
    });
    await nc.flush();

    const switched = await c1.admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 10_000 });
    assert.equal(switched.snapshotVersion, 2n);
    await all;
    sub.unsubscribe();

    const config = received.find((r) => r.subject === "turnout.events.config")!.json;
    assert.equal(config.kind, "route");
    assert.equal(config.name, "qwen3-32b");
    assert.equal(config.action, "switch");
    assert.equal(config.snapshotVersion, "2");
    const snapshot = received.find((r) => r.subject === "turnout.events.snapshot")!.json;
    assert.equal(snapshot.version, "2");
    assert.equal(snapshot.parentVersion, "1");
    assert.match(String(snapshot.contentHash), /^[0-9a-f]{64}$/);
    const acked = received
      .filter((r) => r.subject === "turnout.events.proxy")
      .map((r) => r.json.id)
      .sort();
    assert.deepEqual([...new Set(acked)], ["p1", "p2"]);
  } finally {
    await nc.close();
    await cluster.close();
  }
});
