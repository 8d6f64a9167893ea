import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createLogger } from "../../src/log.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { connectNats, type NatsLink } from "../../src/transport/nats/nats-connection.ts";
import type { NatsTlsFiles } from "../../src/transport/nats/nats-credentials.ts";
import { natsPermissions } from "../../src/transport/nats/nats-permissions.ts";
import { natsAuthConfig } from "../support/nats-auth-config.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { makeCertificates } from "../support/test-certs.ts";
import { startTurnout, type TurnoutProcess } from "../support/turnout-process.ts";
import { until } from "../support/until.ts";
import { chat, clusterConfig, controlClients, waitForFleet } from "./distributed-support.ts";

// Secrets a log grep must never find.
const CONTROL_PASSWORD = "control-pw-5b8e21d4";
const PROXY_PASSWORD = "proxy-pw-c3a97f60";
const SNAPSHOT_SUBJECT = "$KV.turnout_state.snapshot.current";

let dir: string;
let nats: NatsServer;
let sim: Simulator;
let tls: NatsTlsFiles;
let configPath: string;
const started: TurnoutProcess[] = [];
const links: NatsLink[] = [];

const tlsFlags = () => ["--nats-tls-ca", tls.caFile!, "--nats-tls-cert", tls.certFile!, "--nats-tls-key", tls.keyFile!];
const natsUrl = (user: string, password: string) => `nats://${user}:${password}@127.0.0.1:${nats.port}`;
const debug = { LOG_LEVEL: "debug" };

async function startControl(id: string, password = CONTROL_PASSWORD): Promise<TurnoutProcess> {
  const args = ["control", "--nats", natsUrl("control", password), "--admin-port", "0", "--id", id, "--config", configPath];
  const p = await startTurnout([...args, ...tlsFlags()], "admin", debug);
  started.push(p);
  return p;
}

/** A proxy with its user and password from NATS_USER / NATS_PASSWORD. */
async function startProxy(id: string, password = PROXY_PASSWORD): Promise<TurnoutProcess> {
  const args = ["proxy", "--nats", nats.url, "--port", "0", "--id", id, "--data-dir", join(dir, id), ...tlsFlags()];
  const p = await startTurnout(args, "traffic", { ...debug, NATS_USER: "proxy", NATS_PASSWORD: password });
  started.push(p);
  return p;
}

/** A raw connection as `user`, over the same TLS. */
async function connectAs(user: string, password: string): Promise<NatsLink> {
  const logger = createLogger({ level: "silent" });
  const link = await connectNats({ servers: nats.url, name: `test-${user}`, logger, credentials: { user, password, tls } });
  links.push(link);
  return link;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "turnout-nats-auth-"));
  const certs = makeCertificates(dir);
  tls = { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile };
  const permissions = natsPermissions();
  nats = await startNatsServer({
    config: natsAuthConfig({
      users: [
        { user: "control", password: CONTROL_PASSWORD, permissions: permissions.control },
        { user: "proxy", password: PROXY_PASSWORD, permissions: permissions.proxy },
      ],
      tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile, verify: true },
    }),
  });
  sim = await startSimulator({
    models: ["qwen3:32b", "qwen3:8b"],
    parallel: 64,
    ttftMs: 1,
    tokensPerSecond: 2000,
    outputTokens: 6,
  });
  configPath = join(dir, "turnout.yaml");
  writeFileSync(configPath, clusterConfig(sim.url));
});

after(async () => {
  await Promise.all(started.map((p) => p.kill()));
  await Promise.all(links.map((l) => l.close()));
  await nats.stop();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a control plane and a proxy on a NATS server that requires users and TLS serve traffic, converge and count outcomes, with no permission violation and no secret in any log", async () => {
  const control = await startControl("c1");
  const proxy = await startProxy("p1");
  const clients = controlClients(control.url);
  await waitForFleet(clients, (view) => view.proxies.some((p) => p.status?.id === "p1" && p.status.appliedVersion === 1n));
  for (let i = 0; i < 5; i++) assert.equal((await chat(proxy.url, `user-${i}`)).status, 200);

  const switched = await clients.admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 10_000 });
  assert.equal(switched.convergence?.converged, true);
  assert.equal(switched.convergence?.synced, 1);
  assert.equal((await chat(proxy.url)).variant, "small");
  // the proxy's outcomes reach the control plane through the stream
  await until("6 requests counted", async () => {
    const { window } = await clients.metrics.getMetrics({ windowSeconds: 3600 });
    return (window?.series ?? []).reduce((n, s) => n + Number(s.requests), 0) === 6;
  });

  // A restart rebuilds metrics from the stream (an ephemeral consumer) under the same permissions.
  await control.stop();
  const restarted = controlClients((await startControl("c1")).url);
  await until("6 requests rebuilt", async () => {
    const { window } = await restarted.metrics.getMetrics({ windowSeconds: 3600 });
    return (window?.series ?? []).reduce((n, s) => n + Number(s.requests), 0) === 6;
  });

  assert.doesNotMatch(nats.log(), /Violation/); // the server logs "Publish Violation", "Subscription Violation"
  const logs = started.map((p) => p.stderr()).join("\n");
  assert.match(logs, /"as":"user \\"control\\"","tls":true,"msg":"connected to NATS"/);
  assert.match(logs, /"as":"user \\"proxy\\"","tls":true,"msg":"connected to NATS"/);
  assert.match(logs, new RegExp(`nats nats://control:\\*\\*\\*@127\\.0\\.0\\.1:${nats.port}`));
  for (const secret of [CONTROL_PASSWORD, PROXY_PASSWORD]) assert.ok(!logs.includes(secret), "a password is in a log");
});

test("the proxy's user cannot write snapshot.current, purge or delete the bucket, nor point a consumer into it, while the proxy keeps serving", async () => {
  const proxy = await startProxy("p2");
  await until("the proxy to serve", async () => (await chat(proxy.url)).status === 200);
  const asControl = await connectAs("control", CONTROL_PASSWORD);
  const controlKv = await new Kvm(jetstream(asControl.require("test"))).open("turnout_state");
  const before = await controlKv.get("snapshot.current");
  assert.ok(before !== null && before.revision > 0);

  const asProxy = await connectAs("proxy", PROXY_PASSWORD);
  const nc = asProxy.require("test");
  const js = jetstream(nc, { timeout: 1000 });
  const kv = await new Kvm(js).open("turnout_state");
  await assert.rejects(kv.put("snapshot.current", before.value));
  await assert.rejects(kv.delete("snapshot.current"));
  nc.publish(SNAPSHOT_SUBJECT, before.value); // plain publish, no reply
  const jsm = await jetstreamManager(nc, { timeout: 1000, checkAPI: false });
  await assert.rejects(jsm.streams.purge("KV_turnout_state"));
  await assert.rejects(jsm.streams.delete("KV_turnout_state"));
  await assert.rejects(jsm.streams.deleteMessage("KV_turnout_state", before.revision));
  // it may append outcomes but not read them
  await assert.rejects(
    jsm.streams.info("TURNOUT_OUTCOMES").then(() => jsm.consumers.add("TURNOUT_OUTCOMES", { ack_policy: AckPolicy.None })),
  );
  // A consumer the proxy may create (filtered to the key) delivering into the bucket's own
  // subjects would replay an old snapshot: the server refuses the cycle.
  for (const deliverTo of [SNAPSHOT_SUBJECT, "$KV.turnout_state.routes.x"]) {
    await assert.rejects(
      jsm.consumers.add("KV_turnout_state", {
        name: "replay",
        filter_subject: SNAPSHOT_SUBJECT,
        deliver_subject: deliverTo,
        deliver_policy: DeliverPolicy.All,
        ack_policy: AckPolicy.None,
      }),
      /cycle/i,
    );
  }
  const denied = [
    SNAPSHOT_SUBJECT,
    "$JS.API.STREAM.PURGE.KV_turnout_state",
    "$JS.API.STREAM.DELETE.KV_turnout_state",
    "$JS.API.STREAM.MSG.DELETE.KV_turnout_state",
    "$JS.API.CONSUMER.CREATE.TURNOUT_OUTCOMES",
  ];
  await until("every attempt in the server log", () =>
    denied.every((subject) => nats.log().includes(`Publish Violation - User "proxy", Subject "${subject}"`)),
  );

  const after = await controlKv.get("snapshot.current");
  assert.equal(after?.revision, before.revision, "snapshot.current was not written");
  assert.equal((await chat(proxy.url)).status, 200);
});

test("a control plane whose password the server refuses exits non-zero with one line naming the user, not the password", async () => {
  const wrong = "wrong-pw-0d9a6e";
  await assert.rejects(startControl("c-wrong", wrong), (err: Error) => {
    assert.match(err.message, /exited \(1\) before listening/);
    assert.match(err.message, /turnout: NATS at nats:\/\/127\.0\.0\.1:\d+ refused user "control" \(.*Authorization Violation/i);
    assert.ok(!err.message.includes(wrong), err.message);
    return true;
  });
});

test("a proxy whose password the server refuses serves from its disk copy and logs the refusal", async () => {
  const first = await startProxy("p3");
  await until("the proxy to serve its first snapshot", async () => (await chat(first.url)).status === 200);
  await first.stop();
  const wrong = "wrong-pw-7c41b2";
  const proxy = await startProxy("p3", wrong);
  assert.equal((await chat(proxy.url)).status, 200);
  await until("the refusal line", () => /NATS at .* refused user \\"proxy\\".*retrying every 5000 ms/.test(proxy.stderr()));
  assert.ok(!proxy.stderr().includes(wrong));
});
