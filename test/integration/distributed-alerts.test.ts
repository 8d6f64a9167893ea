import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { request } from "undici";
import { SyncState } from "../../gen/turnout/v1/fleet_pb.js";
import { RoutingSnapshotSchema, VariantSchema } from "../../gen/turnout/v1/routing_pb.js";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";
import { startTurnout } from "../support/turnout-process.ts";
import { startReceiver } from "../alerts/webhook-receiver.ts";
import { nodeHealthChanged } from "../alerts/event-fixtures.ts";
import { controlClients, startCluster, waitForFleet } from "./distributed-support.ts";

test("turnout control --alert-webhook/--alert-slack on NATS: two proxies' NACKs and two proxies' view of one node down reach both webhooks", async () => {
  const receiver = await startReceiver();
  const cluster = await startCluster();
  const nc = await connect({ servers: cluster.nats.url });
  try {
    const slackPath = "/services/T9/B9/SECRETSECRET";
    const control = await startTurnout(
      ["control", "--nats", cluster.nats.url, "--admin-port", "0", "--id", "c1", "--config", `${cluster.dir}/turnout.yaml`, "--alert-webhook", `${receiver.url}/generic`, "--alert-slack", `${receiver.url}${slackPath}`],
      "admin",
    );
    const c1 = controlClients(control.url);
    await Promise.all(["p1", "p2"].map((id) => cluster.startProxy(id)));
    const good = (await c1.admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 10_000 })).snapshotVersion;

    // A malformed snapshot straight into the KV key: both proxies NACK it.
    const current = (await c1.admin.getSnapshot({})).snapshot!;
    const bad = create(RoutingSnapshotSchema, { ...current, version: good + 1n, parentVersion: good });
    bad.routes[0].variants.push(create(VariantSchema, { name: "ghost", model: "qwen3:8b", nodes: ["gpu-404"] }));
    bad.contentHash = snapshotContentHash(bad);
    await (await new Kvm(nc).open("turnout_state")).put("snapshot.current", toBinary(RoutingSnapshotSchema, bad));
    await waitForFleet(c1, (view) => view.proxies.filter((p) => p.sync === SyncState.NACKED).length === 2);

    // Both proxies see node gpu-1 go down (NodeHealthChanged on core NATS): one alert per webhook.
    nc.publish("turnout.events.node", nodeHealthChanged({ proxy: "p1", node: "gpu-1", healthy: false, reason: "3 failed checks" }));
    nc.publish("turnout.events.node", nodeHealthChanged({ proxy: "p2", node: "gpu-1", healthy: false, reason: "3 failed checks" }));
    nc.publish("turnout.events.node", nodeHealthChanged({ proxy: "p2", node: "sentinel", healthy: false }));
    await receiver.waitFor(8, 20_000);

    const seen = (path: string) =>
      receiver.received
        .filter((r) => r.path === path)
        .map((r) => (r.body.kind ? `${r.body.kind} ${r.body.details.proxy ?? ""} ${r.body.details.node ?? ""}`.trim() : r.body.blocks[0].text.text))
        .sort();
    assert.deepEqual(seen("/generic"), ["node_down p1 gpu-1", "node_down p2 sentinel", "proxy_nack p1", "proxy_nack p2"]);
    assert.deepEqual(seen(slackPath), ["Node gpu-1 is down", "Node sentinel is down", `Proxy p1 rejected snapshot ${bad.version}`, `Proxy p2 rejected snapshot ${bad.version}`]);
    for (const r of receiver.received.filter((r) => r.path === "/generic" && r.body.kind === "proxy_nack")) assert.match(r.body.details.error, /gpu-404/);

    const metrics = async () => (await (await request(`${control.url}/metrics`)).body.text());
    const deadline = Date.now() + 5000;
    let text = await metrics();
    while (!text.includes(`kind="node_down"} 4`) && Date.now() < deadline) text = await metrics();
    assert.ok(text.includes(`turnout_alerts_sent_total{webhook="${receiver.url}",kind="proxy_nack"} 4\n`), text);
    assert.ok(text.includes(`turnout_alerts_sent_total{webhook="${receiver.url}",kind="node_down"} 4\n`), text);
    assert.ok(!text.includes("SECRET") && !control.stderr().includes("SECRET"), "the Slack path is in neither metrics nor logs");
    await control.stop();
  } finally {
    await nc.close();
    await cluster.close();
    await receiver.close();
  }
});

test("turnout control refuses an --alert-slack that is not an http(s) URL, naming the flag", async () => {
  await assert.rejects(startTurnout(["control", "--nats", "nats://127.0.0.1:1", "--admin-port", "0", "--alert-slack", "hooks.slack.com/services/SECRET"], "admin"), (err: Error) => {
    assert.match(err.message, /--alert-slack: must be an http\(s\) URL/);
    assert.ok(!err.message.includes("SECRET"));
    return true;
  });
});
