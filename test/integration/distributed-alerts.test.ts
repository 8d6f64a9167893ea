import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { request } from "undici";
import { SyncState } from "../../gen/turnout/v1/fleet_pb.js";
import { RoutingSnapshotSchema, VariantSchema } from "../../gen/turnout/v1/routing_pb.js";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";
import { startTurnout } from "../support/turnout-process.ts";
import { startReceiver } from "../alerts/webhook-receiver.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { until } from "../support/until.ts";
import { controlClients, startCluster, waitForFleet } from "./distributed-support.ts";

test("turnout control --alert-webhook/--alert-slack on NATS: two proxies' NACKs, and a real node killed and restarted under two proxies' health checks, reach both webhooks once each", async (t) => {
  const receiver = await startReceiver();
  const cluster = await startCluster();
  const nc = await connect({ servers: cluster.nats.url });
  // Node gpu-2 is a simulator of its own, to be killed and restarted on its port.
  const models = ["qwen3:32b", "qwen3:8b"];
  const victim = await startSimulator({ models });
  let revived: Simulator | undefined;
  t.after(async () => {
    await nc.close();
    await cluster.close();
    await Promise.all([victim.close(), revived?.close()]);
    await receiver.close();
  });
  // Both proxies' views of the node, as a plain NATS subscriber sees them.
  const views: { proxy: string; node: string; healthy: boolean }[] = [];
  const sub = nc.subscribe("turnout.events.node", { callback: (_err, msg) => void views.push(msg.json()) });
  t.after(() => sub.unsubscribe());
  await nc.flush();
  const sawBoth = (healthy: boolean) =>
    until(
      `p1 and p2 reporting gpu-2 ${healthy ? "up" : "down"}`,
      async () => ["p1", "p2"].every((p) => views.some((v) => v.proxy === p && v.node === "gpu-2" && v.healthy === healthy)),
      { timeoutMs: 20_000 },
    );

  // Probes every 250 ms: refused probes fail at once, so gpu-2 is out after 4 (~1 s); a healthy
  // node would need 4 slow probes in a row. Node alerts at most every 500 ms per node.
  const configPath = join(cluster.dir, "alerts.yaml");
  await writeFile(
    configPath,
    `
nodes: [ { id: gpu-1, url: "${cluster.sim.url}" }, { id: gpu-2, url: "${victim.url}" } ]
routes:
  - name: qwen3-32b
    default: big
    variants: [ { name: big, model: "qwen3:32b" }, { name: small, model: "qwen3:8b" } ]
settings:
  health_check: { interval: 250ms, timeout: 250ms, unhealthy_threshold: 4, healthy_threshold: 1 }
  outlier_detection: { consecutive_failures: 2, base_ejection: 2m }
alerts:
  node_window: 500ms
`,
  );
  const slackPath = "/services/T9/B9/SECRETSECRET";
  const control = await startTurnout(
    [
      "control",
      "--nats",
      cluster.nats.url,
      "--admin-port",
      "0",
      "--id",
      "c1",
      "--config",
      configPath,
      "--alert-webhook",
      `${receiver.url}/generic`,
      "--alert-slack",
      `${receiver.url}${slackPath}`,
    ],
    "admin",
  );
  const c1 = controlClients(control.url);
  await Promise.all(["p1", "p2"].map((id) => cluster.startProxy(id)));
  const good = (await c1.admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 10_000 })).snapshotVersion;

  // A malformed snapshot straight into the KV key: both proxies NACK it (and keep serving `good`).
  const current = (await c1.admin.getSnapshot({})).snapshot!;
  const bad = create(RoutingSnapshotSchema, { ...current, version: good + 1n, parentVersion: good });
  bad.routes[0].variants.push(create(VariantSchema, { name: "ghost", model: "qwen3:8b", nodes: ["gpu-404"] }));
  bad.contentHash = snapshotContentHash(bad);
  await (await new Kvm(nc).open("turnout_state")).put("snapshot.current", toBinary(RoutingSnapshotSchema, bad));
  await waitForFleet(c1, (view) => view.proxies.filter((p) => p.sync === SyncState.NACKED).length === 2);
  await receiver.waitFor(4, 20_000);

  // gpu-2 killed: both proxies' probes take it out; one node_down per webhook.
  await victim.close();
  await sawBoth(false);
  await receiver.waitFor(6, 20_000);
  // Restarted on its port: both proxies put it back; one node_up per webhook.
  revived = await startSimulator({ models, port: victim.port });
  await sawBoth(true);
  await receiver.waitFor(8, 20_000);

  const seen = (path: string) =>
    receiver.received
      .filter((r) => r.path === path)
      .map((r) =>
        r.body.kind
          ? `${r.body.kind} ${r.body.kind === "proxy_nack" ? r.body.details.proxy : r.body.details.node}`
          : r.body.blocks[0].text.text,
      )
      .sort();
  assert.deepEqual(seen("/generic"), ["node_down gpu-2", "node_up gpu-2", "proxy_nack p1", "proxy_nack p2"]);
  assert.deepEqual(seen(slackPath), [
    "Node gpu-2 is back",
    "Node gpu-2 is down",
    `Proxy p1 rejected snapshot ${bad.version}`,
    `Proxy p2 rejected snapshot ${bad.version}`,
  ]);
  for (const r of receiver.received.filter((r) => r.path === "/generic" && r.body.kind === "proxy_nack"))
    assert.match(r.body.details.error, /gpu-404/);
  const down = receiver.received.find((r) => r.path === "/generic" && r.body.kind === "node_down")!.body;
  assert.equal(down.details.baseUrl, victim.url);
  assert.ok(["p1", "p2"].includes(down.details.proxy), down.details.proxy);
  const up = receiver.received.find((r) => r.path === "/generic" && r.body.kind === "node_up")!.body;
  assert.match(up.details.reason, /active health check passed/);

  const metrics = async () => await (await request(`${control.url}/metrics`)).body.text();
  const text = await until(
    "every alert counted",
    async () => {
      const m = await metrics();
      return m.includes(`kind="node_up"} 2`) ? m : undefined;
    },
    { timeoutMs: 5000 },
  );
  assert.ok(text.includes(`turnout_alerts_sent_total{webhook="${receiver.url}",kind="proxy_nack"} 4\n`), text);
  assert.ok(text.includes(`turnout_alerts_sent_total{webhook="${receiver.url}",kind="node_down"} 2\n`), text);
  assert.ok(text.includes(`turnout_alerts_sent_total{webhook="${receiver.url}",kind="node_up"} 2\n`), text);
  assert.match(text, /turnout_alerts_node_events_suppressed_total [1-9]/, "the second proxy's views were folded in");
  assert.equal(receiver.received.length, 8, "nothing more");
  assert.ok(!text.includes("SECRET") && !control.stderr().includes("SECRET"), "the Slack path is in neither metrics nor logs");
  await control.stop();
});

test("turnout control refuses an --alert-slack that is not an http(s) URL, naming the flag", async () => {
  await assert.rejects(
    startTurnout(
      ["control", "--nats", "nats://127.0.0.1:1", "--admin-port", "0", "--alert-slack", "hooks.slack.com/services/SECRET"],
      "admin",
    ),
    (err: Error) => {
      assert.match(err.message, /--alert-slack: must be an http\(s\) URL/);
      assert.ok(!err.message.includes("SECRET"));
      return true;
    },
  );
});
