import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { NodeSchema, RouteSchema, type Node, type Route } from "../../gen/turnout/v1/routing_pb.js";
import { bucketTable } from "../../src/assign/allocate.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { SNAPSHOT_KEY } from "../../src/transport/types.ts";
import { removeDir, startPlane, type Plane } from "./admin-harness.ts";

const node = (id: string, models: string[] = []): Node =>
  create(NodeSchema, { id, baseUrl: `http://127.0.0.1:1${id.length}000/`, models });
const route = (init: MessageInitShape<typeof RouteSchema> & { name: string }): Route =>
  create(RouteSchema, {
    defaultVariant: "stable",
    variants: [
      { name: "stable", model: "qwen3:32b" },
      { name: "canary", model: "qwen3:8b" },
    ],
    ...init,
  });

async function plane(
  t: { after: (fn: () => Promise<void> | void) => void },
  options?: Parameters<typeof startPlane>[0],
): Promise<Plane> {
  const p = await startPlane(options);
  t.after(async () => {
    await p.close();
    removeDir(p.dir);
  });
  return p;
}

async function rejectsWith(p: Promise<unknown>, code: Code, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    const e = ConnectError.from(err);
    assert.equal(Code[e.code], Code[code], e.message);
    assert.match(e.rawMessage, pattern);
    return true;
  });
}

test("put, get, list and delete nodes and routes; every change publishes the next snapshot", async (t) => {
  const { admin } = await plane(t);
  assert.equal((await admin.getSnapshot({})).snapshot?.version, 1n, "an empty state is published as version 1");
  const put = await admin.putNode({ node: node("gpu-1"), expectedRevision: 0n });
  assert.equal(put.snapshotVersion, 2n);
  await admin.putNode({ node: node("gpu-0", ["qwen3:8b"]) });
  const got = await admin.getNode({ id: "gpu-1" });
  assert.equal(got.node?.node?.baseUrl, "http://127.0.0.1:15000", "the trailing slash is removed");
  assert.equal(got.node?.revision, put.revision);
  assert.deepEqual(
    (await admin.listNodes({})).nodes.map((n) => n.node?.id),
    ["gpu-0", "gpu-1"],
  );

  const r = await admin.putRoute({ route: route({ name: "qwen3:32b" }) });
  assert.equal(r.snapshotVersion, 4n);
  assert.equal(r.route?.seed, "qwen3:32b:1");
  assert.deepEqual(
    (await admin.listRoutes({})).routes.map((x) => [x.route?.name, x.revision]),
    [["qwen3:32b", r.revision]],
  );
  assert.equal((await admin.getRoute({ name: "qwen3:32b" })).route?.route?.defaultVariant, "stable");

  const snapshot = (await admin.getSnapshot({})).snapshot!;
  assert.equal(snapshot.version, 4n);
  assert.equal(snapshot.parentVersion, 3n);
  assert.deepEqual(checkSnapshot(snapshot), []);
  assert.deepEqual(
    snapshot.nodes.map((n) => n.id),
    ["gpu-0", "gpu-1"],
  );

  assert.equal((await admin.deleteRoute({ name: "qwen3:32b", expectedRevision: r.revision })).snapshotVersion, 5n);
  assert.equal((await admin.deleteNode({ id: "gpu-1" })).snapshotVersion, 6n);
  await rejectsWith(admin.getNode({ id: "gpu-1" }), Code.NotFound, /node "gpu-1" does not exist/);
  await rejectsWith(admin.getRoute({ name: "qwen3:32b" }), Code.NotFound, /route "qwen3:32b" does not exist/);
  await rejectsWith(admin.deleteRoute({ name: "qwen3:32b" }), Code.NotFound, /does not exist/);
});

test("a write with a stale expected_revision fails with Aborted and changes nothing", async (t) => {
  const { admin } = await plane(t);
  const first = await admin.putNode({ node: node("gpu-1"), expectedRevision: 0n });
  await rejectsWith(
    admin.putNode({ node: node("gpu-1"), expectedRevision: 0n }),
    Code.Aborted,
    /node "gpu-1": expected revision 0, but its revision is \d+/,
  );
  const changed = create(NodeSchema, { ...node("gpu-1"), maxConcurrent: 3 });
  const second = await admin.putNode({ node: changed, expectedRevision: first.revision });
  const before = (await admin.getSnapshot({})).snapshot!;
  await rejectsWith(
    admin.putNode({ node: create(NodeSchema, { ...changed, maxConcurrent: 9 }), expectedRevision: first.revision }),
    Code.Aborted,
    /expected revision/,
  );
  await rejectsWith(admin.deleteNode({ id: "gpu-1", expectedRevision: first.revision }), Code.Aborted, /expected revision/);
  assert.equal((await admin.getNode({ id: "gpu-1" })).node?.node?.maxConcurrent, 3);
  assert.equal((await admin.getNode({ id: "gpu-1" })).node?.revision, second.revision);
  assert.equal((await admin.getSnapshot({})).snapshot?.version, before.version);
});

test("concurrent writes on the same revision: exactly one wins, the others are Aborted", async (t) => {
  const { admin } = await plane(t);
  const base = await admin.putNode({ node: node("gpu-1") });
  const results = await Promise.allSettled(
    [1, 2, 3, 4, 5].map((n) =>
      admin.putNode({ node: create(NodeSchema, { ...node("gpu-1"), maxConcurrent: n }), expectedRevision: base.revision }),
    ),
  );
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  for (const r of results) if (r.status === "rejected") assert.equal(ConnectError.from(r.reason).code, Code.Aborted);
});

test("an invalid write fails with InvalidArgument naming the field, and the snapshot is unchanged", async (t) => {
  const { admin } = await plane(t);
  await admin.putNode({ node: node("gpu-1") });
  await admin.putRoute({ route: route({ name: "chat" }) });
  const before = (await admin.getSnapshot({})).snapshot!;
  const bad = route({
    name: "chat",
    variants: [
      { name: "stable", model: "qwen3:32b" },
      { name: "canary", model: "" },
    ],
  });
  await rejectsWith(admin.putRoute({ route: bad }), Code.InvalidArgument, /^route\.variants\[1\]\.model: must not be empty$/);
  await rejectsWith(
    admin.putRoute({ route: route({ name: "chat", variants: [{ name: "stable", model: "m", nodes: ["gpu-9"] }] }) }),
    Code.InvalidArgument,
    /route\.variants\[0\]\.nodes\[0\]: node "gpu-9" does not exist/,
  );
  await rejectsWith(
    admin.putNode({ node: create(NodeSchema, { id: "bad id", baseUrl: "gopher://x" }) }),
    Code.InvalidArgument,
    /node\.id: .*; node\.base_url: "gopher:\/\/x" must use http or https/,
  );
  await rejectsWith(admin.putNode({}), Code.InvalidArgument, /^node: must be set$/);
  await rejectsWith(
    admin.setWeights({
      route: "chat",
      weights: [
        { variant: "stable", weight: 60 },
        { variant: "nope", weight: 30 },
      ],
    }),
    Code.InvalidArgument,
    /weights\[1\]\.variant: "nope" is not a variant of the route; weights: weights must sum to 100, got 90/,
  );
  await rejectsWith(
    admin.switchModel({ route: "chat", variant: "nope" }),
    Code.InvalidArgument,
    /^variant: "nope" is not a variant of route "chat"/,
  );
  // Deleting a node a variant still needs is a failed precondition naming the route.
  await rejectsWith(
    admin.deleteNode({ id: "gpu-1" }),
    Code.FailedPrecondition,
    /deleting node "gpu-1" would leave the routing state inconsistent: routes\["chat"\]\.variants\[0\]\.nodes: no node serves model "qwen3:32b"/,
  );
  const after = (await admin.getSnapshot({})).snapshot!;
  assert.equal(after.version, before.version);
  assert.equal(after.contentHash, before.contentHash);
  assert.equal((await admin.getRoute({ name: "chat" })).route?.route?.variants[1].model, "qwen3:8b");
});

test("identical content republished is a no-op: same revision and same snapshot version", async (t) => {
  const { admin, store } = await plane(t);
  const n = await admin.putNode({ node: node("gpu-1") });
  const again = await admin.putNode({ node: node("gpu-1"), expectedRevision: n.revision });
  assert.deepEqual([again.revision, again.snapshotVersion], [n.revision, n.snapshotVersion]);
  const r = await admin.putRoute({ route: route({ name: "chat" }) });
  const stored = (await admin.getRoute({ name: "chat" })).route!;
  const same = await admin.putRoute({ route: stored.route, expectedRevision: stored.revision });
  assert.deepEqual([same.revision, same.snapshotVersion], [r.revision, r.snapshotVersion]);
  const sw = await admin.switchModel({ route: "chat", variant: "stable" });
  assert.equal(sw.snapshotVersion, r.snapshotVersion, "switching to the variant that already serves changes nothing");
  const entry = await store.get(SNAPSHOT_KEY);
  assert.ok(entry);
  assert.equal((await admin.getSnapshot({})).snapshot?.version, r.snapshotVersion);
});

test("SwitchModel, SetWeights and GetCurrentModel: hot switch, weighted split moving only surplus buckets", async (t) => {
  const { admin } = await plane(t);
  await admin.putNode({ node: node("gpu-1") });
  const created = await admin.putRoute({ route: route({ name: "qwen3-32b" }) });
  let current = await admin.getCurrentModel({ route: "qwen3-32b" });
  assert.deepEqual(
    [current.variant, current.model, current.sinceVersion, current.snapshotVersion, current.arms.length],
    ["stable", "qwen3:32b", created.snapshotVersion, created.snapshotVersion, 0],
  );

  const ten = await admin.setWeights({
    route: "qwen3-32b",
    weights: [
      { variant: "stable", weight: 90 },
      { variant: "canary", weight: 10 },
    ],
    expectedRevision: created.revision,
  });
  assert.deepEqual(
    ten.route?.arms.map((a) => [a.variant, a.weight, a.ranges.map((r) => [r.start, r.end])]),
    [
      ["stable", 90, [[0, 9000]]],
      ["canary", 10, [[9000, 10000]]],
    ],
  );
  const tenTable = bucketTable(ten.route!.arms);
  const quarter = await admin.setWeights({
    route: "qwen3-32b",
    weights: [
      { variant: "stable", weight: 75 },
      { variant: "canary", weight: 25 },
    ],
  });
  const quarterTable = bucketTable(quarter.route!.arms);
  for (let b = 0; b < 10000; b++) if (tenTable[b] === 1) assert.equal(quarterTable[b], 1, `canary bucket ${b} stays canary`);
  current = await admin.getCurrentModel({ route: "qwen3-32b" });
  assert.deepEqual(
    current.arms.map((a) => [a.variant, a.weight]),
    [
      ["stable", 75],
      ["canary", 25],
    ],
  );
  assert.equal(current.sinceVersion, created.snapshotVersion, "a split does not change the default variant");
  assert.equal(current.snapshotVersion, quarter.snapshotVersion);

  await assert.rejects(
    admin.switchModel({ route: "qwen3-32b", variant: "canary", expectedRevision: ten.revision }),
    (e: unknown) => ConnectError.from(e).code === Code.Aborted,
  );
  // The nodes of this test are addresses nobody listens on: shift without the pre-warm.
  const sw = await admin.switchModel({
    route: "qwen3-32b",
    variant: "canary",
    expectedRevision: quarter.revision,
    skipPrewarm: true,
  });
  assert.equal(sw.previousVariant, "stable");
  assert.equal(sw.snapshotVersion, quarter.snapshotVersion + 1n);
  current = await admin.getCurrentModel({ route: "qwen3-32b" });
  assert.deepEqual(
    [current.variant, current.model, current.sinceVersion, current.arms.length],
    ["canary", "qwen3:8b", sw.snapshotVersion, 0],
  );
  const snapshot = (await admin.getSnapshot({})).snapshot!;
  assert.deepEqual([snapshot.routes[0].defaultVariant, snapshot.routes[0].arms.length], ["canary", 0]);
  await rejectsWith(admin.getCurrentModel({ route: "nope" }), Code.NotFound, /route "nope" does not exist/);
});

test("PutRoute with arms given as weights computes ranges relative to the stored route", async (t) => {
  const { admin } = await plane(t);
  await admin.putNode({ node: node("gpu-1") });
  const a = await admin.putRoute({
    route: route({
      name: "r",
      arms: [
        { variant: "stable", weight: 95 },
        { variant: "canary", weight: 5 },
      ],
    }),
  });
  assert.deepEqual(
    a.route?.arms.map((x) => x.ranges.map((r) => [r.start, r.end])),
    [[[0, 9500]], [[9500, 10000]]],
  );
  const b = await admin.putRoute({
    route: route({
      name: "r",
      arms: [
        { variant: "stable", weight: 80 },
        { variant: "canary", weight: 20 },
      ],
    }),
  });
  assert.deepEqual(
    b.route?.arms.map((x) => x.ranges.map((r) => [r.start, r.end])),
    [[[0, 8000]], [[8000, 10000]]],
  );
  const c = await admin.putRoute({
    route: route({
      name: "r",
      arms: [
        { variant: "stable", weight: 50 },
        { variant: "canary", weight: 50 },
      ],
    }),
  });
  assert.deepEqual(
    c.route?.arms.map((x) => x.ranges.map((r) => [r.start, r.end])),
    [[[0, 5000]], [[5000, 10000]]],
  );
});

test("the snapshot key is watched: each publish reaches a watcher as binary protobuf", async (t) => {
  const { admin, store } = await plane(t);
  const ac = new AbortController();
  t.after(() => ac.abort());
  const it = store.watch(SNAPSHOT_KEY, ac.signal)[Symbol.asyncIterator]();
  const first = await it.next();
  assert.ok(!first.done);
  const next = it.next();
  const put = await admin.putNode({ node: node("gpu-1") });
  const seen = await next;
  assert.ok(!seen.done);
  const { fromBinary } = await import("@bufbuild/protobuf");
  const { RoutingSnapshotSchema } = await import("../../gen/turnout/v1/routing_pb.js");
  assert.equal(fromBinary(RoutingSnapshotSchema, seen.value.value).version, put.snapshotVersion);
});

test("the admin server speaks Connect JSON over HTTP/1.1, gRPC over h2c and gRPC-web", async (t) => {
  const p = await plane(t, { httpVersion: "1.1" });
  await p.admin.putNode({ node: node("gpu-1") });
  await p.admin.putRoute({ route: route({ name: "qwen3-32b" }) });
  const res = await fetch(`${p.server.url}/turnout.v1.AdminService/GetCurrentModel`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ route: "qwen3-32b" }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { variant: string; model: string };
  assert.deepEqual([body.variant, body.model], ["stable", "qwen3:32b"]);
  const bad = await fetch(`${p.server.url}/turnout.v1.AdminService/SwitchModel`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ route: "qwen3-32b", variant: "x" }),
  });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { code: string }).code, "invalid_argument");

  const grpc = p.clientWith((baseUrl) => createGrpcTransport({ baseUrl }));
  const switched = await grpc.switchModel({ route: "qwen3-32b", variant: "canary", skipPrewarm: true });
  assert.equal(switched.previousVariant, "stable");
  await rejectsWith(grpc.getNode({ id: "nope" }), Code.NotFound, /does not exist/);
  const web = p.clientWith((baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }));
  assert.equal((await web.getCurrentModel({ route: "qwen3-32b" })).variant, "canary");
});
