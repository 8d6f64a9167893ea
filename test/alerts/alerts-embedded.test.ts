import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clone, fromBinary, toBinary } from "@bufbuild/protobuf";
import { request } from "undici";
import { RoutingSnapshotSchema } from "../../gen/turnout/v1/routing_pb.js";
import { startControlNode } from "../../src/cli/control-node.ts";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { withAlertFlags } from "../../src/control/config/alerts-config.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy } from "../../src/proxy/proxy.ts";
import { startSimulator } from "../../src/sim/simulator.ts";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";
import { createMemoryTransport } from "../../src/transport/memory/memory-transport.ts";
import { SNAPSHOT_KEY } from "../../src/transport/types.ts";
import { promtoolCheck } from "../metrics/promtool.ts";
import { startReceiver } from "./webhook-receiver.ts";
import { until } from "../support/until.ts";

test("embedded mode: a real proxy's NACK of a malformed snapshot reaches the JSON and Slack webhooks and the admin port's /metrics", async () => {
  const receiver = await startReceiver();
  const sim = await startSimulator({ models: ["qwen3:32b", "qwen3:8b"], ttftMs: 1, tokensPerSecond: 1000, outputTokens: 3 });
  const dir = await mkdtemp(join(tmpdir(), "turnout-alerts-"));
  const logger = createLogger({ level: "silent" });
  const transport = createMemoryTransport({ dir, fsync: false });
  // As `turnout up --config FILE --alert-slack URL` wires it: the file's alerts plus the flag's.
  const config = parseConfig(
    `
nodes: [ { id: gpu-1, url: "${sim.url}" } ]
routes:
  - name: qwen3-32b
    default: big
    variants: [ { name: big, model: "qwen3:32b" }, { name: small, model: "qwen3:8b" } ]
alerts:
  webhooks: [ { url: "${receiver.url}/generic", events: [proxy_nack] } ]
`,
    "test config",
  );
  const alerts = withAlertFlags(config.alerts, [], [`${receiver.url}/services/T1/B1/SECRET`]);
  const node = await startControlNode({
    transport,
    logger,
    bootstrap: config.state,
    port: 0,
    host: "127.0.0.1",
    id: "embedded",
    alerts,
  });
  const proxy = await startProxy({
    store: transport.store,
    port: 0,
    host: "127.0.0.1",
    logger,
    id: "embedded-proxy",
    bus: transport.bus,
    outcomes: transport.outcomes,
  });
  try {
    const current = await transport.store.get(SNAPSHOT_KEY);
    const good = fromBinary(RoutingSnapshotSchema, current!.value);
    await proxy.waitForVersion(Number(good.version), AbortSignal.timeout(5000));
    assert.equal(receiver.received.length, 0, "ACKs are not alerts");

    // A malformed snapshot (its default variant does not exist), as test/fleet provokes a NACK.
    const bad = clone(RoutingSnapshotSchema, good);
    bad.version = good.version + 1n;
    bad.routes[0].defaultVariant = "missing";
    bad.contentHash = snapshotContentHash(bad);
    await transport.store.put(SNAPSHOT_KEY, toBinary(RoutingSnapshotSchema, bad));

    const got = await receiver.waitFor(2);
    const generic = got.find((r) => r.path === "/generic")!.body;
    assert.equal(generic.source, "turnout");
    assert.equal(generic.kind, "proxy_nack");
    assert.equal(generic.title, `Proxy embedded-proxy rejected snapshot ${bad.version}`);
    assert.deepEqual(
      [generic.details.proxy, generic.details.version, generic.details.appliedVersion],
      ["embedded-proxy", Number(bad.version), Number(good.version)],
    );
    assert.match(generic.details.error, /missing/);
    assert.ok(!Number.isNaN(Date.parse(generic.at)));
    const slack = got.find((r) => r.path.startsWith("/services/"))!.body;
    assert.equal(slack.blocks[0].text.text, generic.title);
    assert.match(slack.text, /missing/);

    // Traffic goes on, on the last good snapshot.
    const chat = await request(`${proxy.url}/api/chat`, {
      method: "POST",
      body: JSON.stringify({ model: "qwen3-32b", stream: false, messages: [{ role: "user", content: "hi" }] }),
    });
    await chat.body.text();
    assert.equal(chat.statusCode, 200);
    assert.equal(Number(chat.headers["x-turnout-snapshot"]), Number(good.version));

    // The admin port's /metrics counts them by webhook origin (never the path) and kind.
    const metrics = async () => await (await request(`${node.url}/metrics`)).body.text();
    const sent = `turnout_alerts_sent_total{webhook="${receiver.url}",kind="proxy_nack"} 2\n`;
    let last = "";
    const text = await until(
      () => `${sent.trim()} in\n${last}`,
      async () => {
        last = await metrics();
        return last.includes(sent) && last;
      },
      { timeoutMs: 5000 },
    );
    assert.ok(text.includes(sent), text);
    assert.ok(text.includes("turnout_control_snapshot_version"), "the control plane's own metrics are still there");
    assert.ok(!text.includes("SECRET"));
    await promtoolCheck(text);
  } finally {
    await proxy.close();
    await node.close();
    await transport.close();
    await sim.close();
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
});
