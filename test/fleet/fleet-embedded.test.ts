import { test } from "node:test";
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { clone, create, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, type ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { ApplyState, ConfigChangedSchema, ProxyStatusSchema, SnapshotPublishedSchema } from "../../gen/turnout/v1/events_pb.js";
import { FleetService, SyncState, type WatchFleetResponse } from "../../gen/turnout/v1/fleet_pb.js";
import { RoutingSnapshotSchema } from "../../gen/turnout/v1/routing_pb.js";
import { createLogger } from "../../src/log.ts";
import { startProxy } from "../../src/proxy/proxy.ts";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";
import { SNAPSHOT_KEY, SUBJECTS, type BusMessage } from "../../src/transport/types.ts";
import { startEmbedded, type Embedded } from "../integration/harness.ts";

const config = (urls: string[]) => `
nodes:
${urls.map((url, i) => `  - { id: node-${i + 1}, url: "${url}", models: ["qwen3:32b", "qwen3:8b"] }`).join("\n")}
routes:
  - name: qwen3-32b
    default: big
    variants:
      - { name: big, model: "qwen3:32b" }
      - { name: small, model: "qwen3:8b" }
`;

async function start(heartbeatMs?: number): Promise<Embedded & { fleet: Client<typeof FleetService> }> {
  const gw = await startEmbedded({
    sims: [{ models: ["qwen3:32b", "qwen3:8b"], ttftMs: 1, tokensPerSecond: 1000, outputTokens: 5 }],
    config,
    heartbeatMs,
  });
  const fleet = createClient(FleetService, createConnectTransport({ baseUrl: gw.adminUrl, httpVersion: "1.1" }));
  return Object.assign(gw, { fleet });
}

/** Reads `stream` until `accept` says yes; answers that message. */
async function firstMatching<T>(stream: AsyncIterable<T>, accept: (m: T) => boolean): Promise<T> {
  for await (const m of stream) if (accept(m)) return m;
  throw new Error("stream ended first");
}

async function chat(url: string): Promise<{ status: number; snapshot: number }> {
  const res = await request(`${url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "qwen3-32b", stream: false, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.body.text();
  return { status: res.statusCode, snapshot: Number(res.headers["x-turnout-snapshot"]) };
}

test("ListProxies shows the embedded proxy synced on the new version after a change that waited for the fleet", async () => {
  const gw = await start();
  try {
    const switched = await gw.admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 5000 });
    const version = switched.snapshotVersion;
    const c = switched.convergence!;
    assert.deepEqual([c.version, c.live, c.synced, c.stale, c.nacked, c.converged], [version, 1, 1, 0, 0, true]);
    assert.ok(c.publishedAt !== undefined);
    assert.ok(c.publishToLastAckMs >= 0 && c.publishToLastAckMs < 5000, `publish to last ACK ${c.publishToLastAckMs} ms`);

    const list = await gw.fleet.listProxies({});
    assert.equal(list.proxies.length, 1);
    const [entry] = list.proxies;
    assert.equal(entry.sync, SyncState.SYNCED);
    const s = entry.status!;
    assert.deepEqual(
      [s.id, s.host, s.url, s.appliedVersion, s.version, s.state, s.error],
      ["test-proxy", hostname(), gw.proxyUrl, version, version, ApplyState.ACK, ""],
    );
    assert.equal(s.heartbeatIntervalMs, 1000);
    assert.ok(s.startedAt !== undefined && s.heartbeatAt !== undefined);
    assert.equal(list.latest!.version, version);
    assert.equal(list.latest!.converged, true);

    const got = await gw.fleet.getConvergence({ version });
    assert.equal(got.convergence!.synced, 1);
    assert.equal((await gw.fleet.getConvergence({})).convergence!.version, version, "version 0 means the latest");
    await assert.rejects(gw.fleet.getConvergence({ version: version + 100n }), (err: ConnectError) => err.code === Code.NotFound);
  } finally {
    await gw.close();
  }
});

test("a write that waits for the fleet fails with DeadlineExceeded naming synced and live counts, and stays accepted", async () => {
  const gw = await start();
  try {
    // A second proxy that reports an old version and never updates (its 60 s heartbeat keeps it live).
    const ghost = create(ProxyStatusSchema, {
      id: "ghost",
      host: "elsewhere",
      version: 1n,
      appliedVersion: 1n,
      state: ApplyState.ACK,
      heartbeatIntervalMs: 60_000,
    });
    const seen = firstMatching(gw.controlPlane.fleet!.watch(AbortSignal.timeout(5000)), (v) => v.proxies.length === 2);
    gw.bus.publish(SUBJECTS.proxyStatus("ghost"), new TextEncoder().encode(toJsonString(ProxyStatusSchema, ghost)));
    await seen;
    assert.equal(gw.controlPlane.fleet!.proxies().find((e) => e.status!.id === "ghost")!.status!.host, ghost.host);

    await assert.rejects(
      gw.admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 300 }),
      (err: ConnectError) => {
        assert.equal(err.code, Code.DeadlineExceeded);
        assert.match(err.rawMessage, /reached only 1 of 2 live proxies within 300 ms \(1 stale, 0 nacked\)/);
        return true;
      },
    );
    assert.equal((await gw.admin.getCurrentModel({ route: "qwen3-32b" })).variant, "small", "the change stays accepted");
    const entries = (await gw.fleet.listProxies({})).proxies.map((e) => [e.status!.id, e.sync]);
    assert.deepEqual(entries, [
      ["ghost", SyncState.STALE],
      ["test-proxy", SyncState.SYNCED],
    ]);
  } finally {
    await gw.close();
  }
});

test("WatchFleet streams the current view at once, then the change", async () => {
  const gw = await start();
  const stop = new AbortController();
  try {
    const stream = gw.fleet.watchFleet({}, { signal: stop.signal })[Symbol.asyncIterator]();
    const first = (await stream.next()).value as WatchFleetResponse;
    const before = first.latest!.version;
    assert.ok(before > 0n);
    const switched = await gw.admin.switchModel({ route: "qwen3-32b", variant: "small" });
    let view: WatchFleetResponse;
    do view = (await stream.next()).value as WatchFleetResponse;
    while (!(view.latest!.version === switched.snapshotVersion && view.latest!.converged));
    assert.equal(view.proxies[0].status!.appliedVersion, switched.snapshotVersion);
    assert.equal(view.proxies[0].sync, SyncState.SYNCED);
  } finally {
    stop.abort();
    await gw.close();
  }
});

test("a malformed snapshot written into the store shows as NACKED with the reason while the proxy keeps serving", async () => {
  const gw = await start();
  const stop = new AbortController();
  try {
    const good = (await gw.admin.getSnapshot({})).snapshot!;
    const bad = clone(RoutingSnapshotSchema, good);
    bad.version = good.version + 1n;
    bad.routes[0].defaultVariant = "missing";
    bad.contentHash = snapshotContentHash(bad);
    const nacked = firstMatching(
      gw.fleet.watchFleet({}, { signal: stop.signal }),
      (v) => v.proxies[0]?.sync === SyncState.NACKED,
    );
    await gw.store.put(SNAPSHOT_KEY, toBinary(RoutingSnapshotSchema, bad));
    const view = await nacked;
    const s = view.proxies[0].status!;
    assert.equal(s.state, ApplyState.NACK);
    assert.equal(s.version, bad.version);
    assert.equal(s.appliedVersion, good.version);
    assert.match(s.error, /missing/);
    assert.deepEqual(
      [view.latest!.version, view.latest!.live, view.latest!.synced, view.latest!.nacked, view.latest!.converged],
      [bad.version, 1, 0, 1, false],
    );

    const served = await chat(gw.proxyUrl);
    assert.equal(served.status, 200);
    assert.equal(served.snapshot, Number(good.version), "still serving the last good snapshot");
  } finally {
    stop.abort();
    await gw.close();
  }
});

test("config events: a change publishes ConfigChanged, SnapshotPublished and the proxy's ACK; a no-op write publishes nothing", async () => {
  const gw = await start();
  const stop = new AbortController();
  try {
    const events = gw.bus.subscribe("turnout.events.>", stop.signal)[Symbol.asyncIterator]();
    const next = async () => (await events.next()).value as BusMessage;
    const json = (m: BusMessage) => new TextDecoder().decode(m.data);

    const switched = await gw.admin.switchModel({ route: "qwen3-32b", variant: "small" });
    const v = switched.snapshotVersion;
    const got = new Map<string, string>();
    while (got.size < 3) {
      const m = await next();
      got.set(m.subject, json(m));
    }
    const published = fromJsonString(SnapshotPublishedSchema, got.get(SUBJECTS.snapshotPublished)!);
    assert.equal(published.version, v);
    assert.equal(published.parentVersion, v - 1n);
    assert.equal(published.contentHash, (await gw.admin.getSnapshot({})).snapshot!.contentHash);
    const changed = fromJsonString(ConfigChangedSchema, got.get(SUBJECTS.configChanged)!);
    assert.deepEqual(
      [changed.kind, changed.name, changed.action, changed.revision, changed.snapshotVersion],
      ["route", "qwen3-32b", "switch", switched.revision, v],
    );
    assert.ok(changed.at !== undefined);
    const ack = fromJsonString(ProxyStatusSchema, got.get(SUBJECTS.proxyApplied)!);
    assert.deepEqual([ack.id, ack.appliedVersion, ack.state], ["test-proxy", v, ApplyState.ACK]);
    assert.match(got.get(SUBJECTS.configChanged)!, /"snapshotVersion":"\d+"/, "payload is the proto JSON form");

    // The same switch again is a no-op: the next event on the subjects is the later real change's.
    const again = await gw.admin.switchModel({ route: "qwen3-32b", variant: "small" });
    assert.equal(again.snapshotVersion, v);
    const weights = await gw.admin.setWeights({
      route: "qwen3-32b",
      weights: [
        { variant: "big", weight: 50 },
        { variant: "small", weight: 50 },
      ],
    });
    const later = new Map<string, string>();
    while (later.size < 3) {
      const m = await next();
      assert.ok(!later.has(m.subject), `a second ${m.subject} event: the no-op published one`);
      later.set(m.subject, json(m));
    }
    const c2 = fromJsonString(ConfigChangedSchema, later.get(SUBJECTS.configChanged)!);
    assert.deepEqual([c2.action, c2.snapshotVersion], ["weights", weights.snapshotVersion]);
    assert.equal(
      fromJsonString(SnapshotPublishedSchema, later.get(SUBJECTS.snapshotPublished)!).version,
      weights.snapshotVersion,
    );
    assert.equal(fromJsonString(ProxyStatusSchema, later.get(SUBJECTS.proxyApplied)!).appliedVersion, weights.snapshotVersion);
  } finally {
    stop.abort();
    await gw.close();
  }
});

test("a proxy heartbeats its status and turns GONE three intervals after it stops", async () => {
  const gw = await start();
  try {
    const beats = gw.bus.subscribe(SUBJECTS.proxyStatus("second"), AbortSignal.timeout(5000));
    const second = await startProxy({
      store: gw.store,
      bus: gw.bus,
      port: 0,
      logger: createLogger({ level: "silent" }),
      id: "second",
      heartbeatMs: 40,
    });
    let count = 0;
    for await (const m of beats) {
      const s = fromJsonString(ProxyStatusSchema, new TextDecoder().decode(m.data));
      assert.equal(s.heartbeatIntervalMs, 40);
      assert.equal(s.url, second.url);
      if (++count === 4) break;
    }
    const live = (await gw.fleet.listProxies({})).latest!;
    assert.equal(live.live, 2);
    const gone = firstMatching(gw.controlPlane.fleet!.watch(AbortSignal.timeout(5000)), (v) =>
      v.proxies.some((e) => e.status!.id === "second" && e.sync === SyncState.GONE),
    );
    await second.close();
    const view = await gone;
    assert.equal(view.latest!.live, 1);
    assert.deepEqual(
      (await gw.fleet.listProxies({})).proxies.map((e) => e.status!.id),
      ["test-proxy"],
      "gone proxies are listed only on request",
    );
    const all = await gw.fleet.listProxies({ includeGone: true });
    assert.deepEqual(
      all.proxies.map((e) => [e.status!.id, e.sync]),
      [
        ["second", SyncState.GONE],
        ["test-proxy", SyncState.SYNCED],
      ],
    );
  } finally {
    await gw.close();
  }
});

test("closing the admin server ends open WatchFleet streams cleanly instead of waiting them out", async () => {
  const gw = await start();
  const stream = gw.fleet.watchFleet({})[Symbol.asyncIterator]();
  assert.equal((await stream.next()).done, false);
  const ended = stream.next();
  const started = performance.now();
  await gw.close();
  assert.deepEqual(await ended, { done: true, value: undefined });
  assert.ok(performance.now() - started < 4000, "close did not wait for the 5 s grace period");
});
