import { test } from "node:test";
import assert from "node:assert/strict";
import { fromJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { ConfigChangedSchema } from "../../gen/turnout/v1/events_pb.js";
import { ExperimentService } from "../../gen/turnout/v1/experiment_pb.js";
import { KeyService } from "../../gen/turnout/v1/keys_pb.js";
import { Role } from "../../gen/turnout/v1/routing_pb.js";
import { SwitchService } from "../../gen/turnout/v1/switch_pb.js";
import { SUBJECTS } from "../../src/transport/types.ts";
import { ADMIN_TOKEN, startAuthPlane, type AuthPlane } from "./auth-harness.ts";

async function rejectsWith(p: Promise<unknown>, code: Code, pattern?: RegExp): Promise<ConnectError> {
  let caught: ConnectError | undefined;
  await assert.rejects(p, (err: unknown) => {
    caught = ConnectError.from(err);
    assert.equal(Code[caught.code], Code[code], caught.message);
    if (pattern) assert.match(caught.rawMessage, pattern);
    return true;
  });
  return caught!;
}

/** Creates a key of `role` with the bootstrap token; answers its id and token. */
async function keyOf(plane: AuthPlane, role: Role, init: { name?: string; expiresAtMs?: number } = {}) {
  const keys = plane.client(KeyService, ADMIN_TOKEN);
  const made = await keys.createKey({
    name: init.name ?? `${Role[role].toLowerCase()}-key`,
    role,
    expiresAt: init.expiresAtMs === undefined ? undefined : timestampFromMs(init.expiresAtMs),
  });
  return { id: made.key!.id, token: made.token };
}

const split = {
  route: "chat",
  weights: [
    { variant: "big", weight: 90 },
    { variant: "small", weight: 10 },
  ],
};

test("with an admin token configured, a call without a token or with a wrong one is unauthenticated", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  await rejectsWith(plane.client(AdminService).listNodes({}), Code.Unauthenticated, /authorization: Bearer/);
  await rejectsWith(plane.client(AdminService, "not-a-token").listNodes({}), Code.Unauthenticated, /not a Turnout key/);
  await rejectsWith(
    plane.client(AdminService, `tk_0123456789abcdef_${"a".repeat(43)}`).listNodes({}),
    Code.Unauthenticated,
    /not a known key/,
  );
  const wrongSecret = (await keyOf(plane, Role.VIEWER)).token.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
  await rejectsWith(plane.client(AdminService, wrongSecret).listNodes({}), Code.Unauthenticated, /not a known key/);
  const err = await rejectsWith(plane.client(AdminService, ADMIN_TOKEN.slice(0, -1)).listNodes({}), Code.Unauthenticated);
  assert.ok(!err.rawMessage.includes(ADMIN_TOKEN.slice(0, -1)), "a message never repeats the token");
  assert.deepEqual(
    (await plane.client(AdminService, ADMIN_TOKEN).listNodes({})).nodes.map((n) => n.node?.id),
    ["gpu-1"],
    "the bootstrap token is an admin",
  );
});

test("a viewer key reads, and SetWeights with it is permission_denied", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const viewer = await keyOf(plane, Role.VIEWER);
  const admin = plane.client(AdminService, viewer.token);
  assert.equal((await admin.getRoute({ name: "chat" })).route?.route?.defaultVariant, "big");
  assert.ok((await admin.getSnapshot({})).snapshot);
  await rejectsWith(
    admin.setWeights(split),
    Code.PermissionDenied,
    new RegExp(`key ${viewer.id} \\(viewer\\) may not call turnout.v1.AdminService/SetWeights: it needs operator`),
  );
  await rejectsWith(plane.client(KeyService, viewer.token).listKeys({}), Code.PermissionDenied, /needs admin/);
  assert.equal((await admin.getRoute({ name: "chat" })).route?.route?.arms.length, 0, "nothing changed");
});

test("an operator key switches and sets weights, but may not change nodes or keys", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const operator = await keyOf(plane, Role.OPERATOR);
  const admin = plane.client(AdminService, operator.token);
  const switched = await admin.switchModel({ route: "chat", variant: "small", skipPrewarm: true });
  assert.equal(switched.previousVariant, "big");
  assert.equal((await admin.getCurrentModel({ route: "chat" })).variant, "small");
  const weighed = await admin.setWeights(split);
  assert.deepEqual(
    weighed.route?.arms.map((a) => a.weight),
    [90, 10],
  );
  await rejectsWith(admin.deleteNode({ id: "gpu-1" }), Code.PermissionDenied, /needs admin/);
  await rejectsWith(
    plane.client(KeyService, operator.token).createKey({ name: "mine", role: Role.ADMIN }),
    Code.PermissionDenied,
    /needs admin/,
  );
  const experiments = plane.client(ExperimentService, operator.token);
  assert.deepEqual((await experiments.list({})).experiments, [], "an operator reads too");
});

test("an admin key creates and revokes keys, and a revoked key is refused on its next call", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const adminKey = await keyOf(plane, Role.ADMIN, { name: "platform-admin" });
  const keys = plane.client(KeyService, adminKey.token);
  const made = await keys.createKey({ name: "ci deployer", role: Role.OPERATOR });
  assert.match(made.token, /^tk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.equal(made.key?.createdBy, adminKey.id);
  assert.equal(made.key?.role, Role.OPERATOR);
  const operator = plane.client(AdminService, made.token);
  await operator.setWeights(split);

  const before = (await plane.client(AdminService, ADMIN_TOKEN).getSnapshot({})).snapshot!;
  assert.ok(
    before.keys.some((k) => k.id === made.key!.id),
    "the snapshot carries the key",
  );
  const revoked = await keys.revokeKey({ id: made.key!.id });
  assert.equal(revoked.key?.revokedBy, adminKey.id);
  assert.ok(revoked.key?.revokedAt);
  assert.ok(revoked.snapshotVersion > before.version, "the revocation publishes a snapshot");
  const after = (await plane.client(AdminService, ADMIN_TOKEN).getSnapshot({})).snapshot!;
  assert.equal(after.version, revoked.snapshotVersion);
  assert.ok(!after.keys.some((k) => k.id === made.key!.id), "a revoked key is left out of the next snapshot");

  await rejectsWith(operator.setWeights(split), Code.Unauthenticated, new RegExp(`key ${made.key!.id} was revoked`));
  await rejectsWith(operator.listNodes({}), Code.Unauthenticated, /was revoked/);
  const again = await keys.revokeKey({ id: made.key!.id });
  assert.equal(again.snapshotVersion, revoked.snapshotVersion, "revoking twice is a no-op");
  assert.deepEqual(again.key?.revokedAt, revoked.key?.revokedAt);
  await rejectsWith(keys.revokeKey({ id: "0000000000000000" }), Code.NotFound);
  await rejectsWith(keys.revokeKey({ id: "bootstrap" }), Code.InvalidArgument, /TURNOUT_ADMIN_TOKEN/);
});

test("a key is refused once its expiry passes, and CreateKey refuses an expiry in the past", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const viewer = await keyOf(plane, Role.VIEWER, { expiresAtMs: plane.clock.ms + 3_600_000 });
  const admin = plane.client(AdminService, viewer.token);
  const expiresAt = new Date(plane.clock.ms + 3_600_000).toISOString();
  plane.clock.ms += 3_599_999;
  await admin.listNodes({});
  plane.clock.ms += 1;
  await rejectsWith(admin.listNodes({}), Code.Unauthenticated, new RegExp(`key ${viewer.id} expired at ${expiresAt}`));
  await rejectsWith(
    plane
      .client(KeyService, ADMIN_TOKEN)
      .createKey({ name: "late", role: Role.VIEWER, expiresAt: timestampFromMs(plane.clock.ms) }),
    Code.InvalidArgument,
    /expires_at: must be in the future/,
  );
  // the next snapshot leaves the expired key out
  await plane.client(KeyService, ADMIN_TOKEN).createKey({ name: "later", role: Role.VIEWER });
  const snapshot = (await plane.client(AdminService, ADMIN_TOKEN).getSnapshot({})).snapshot!;
  assert.ok(!snapshot.keys.some((k) => k.id === viewer.id));
});

test("ListKeys shows every key without a secret or hash; the token is answered only by CreateKey", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const keys = plane.client(KeyService, ADMIN_TOKEN);
  const client = await keys.createKey({
    name: "team-search",
    role: Role.CLIENT,
    routes: ["chat", "not-yet-a-route"],
    limits: { requestsPerMinute: 600, maxTokensPerRequest: 2048 },
  });
  const viewer = await keys.createKey({ name: "dashboards", role: Role.VIEWER });
  await keys.revokeKey({ id: viewer.key!.id });
  const listed = await keys.listKeys({});
  assert.deepEqual(
    listed.keys.map((k) => k.id),
    [client.key!.id, viewer.key!.id].sort(),
  );
  const search = listed.keys.find((k) => k.id === client.key!.id)!;
  assert.deepEqual(search.routes, ["chat", "not-yet-a-route"], "routes need not exist yet");
  assert.equal(search.limits?.requestsPerMinute, 600);
  assert.equal(search.createdBy, "bootstrap");
  assert.ok(listed.keys.find((k) => k.id === viewer.key!.id)!.revokedAt, "revoked keys are listed as revoked");
  const secret = client.token.slice(20);
  const text = JSON.stringify(listed.keys, (_k, v) => (typeof v === "bigint" ? String(v) : v));
  assert.ok(!text.includes(secret), "no secret");
  const stored = await plane.controlPlane.keys.find(client.key!.id);
  assert.ok(!text.includes(stored!.secretSha256), "no hash");
  // the store and the snapshot hold the hash, never the secret
  const raw = await plane.transport.store.get(`keys.${client.key!.id}`);
  assert.ok(raw && !Buffer.from(raw.value).toString("latin1").includes(secret));
  const snapshot = (await plane.client(AdminService, ADMIN_TOKEN).getSnapshot({})).snapshot!;
  const inSnapshot = snapshot.keys.find((k) => k.id === client.key!.id)!;
  assert.deepEqual(
    [inSnapshot.role, inSnapshot.routes, inSnapshot.secretSha256],
    [Role.CLIENT, ["chat", "not-yet-a-route"], stored!.secretSha256],
  );
});

test("CreateKey validates name, role, routes and limits, naming the field", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const keys = plane.client(KeyService, ADMIN_TOKEN);
  await rejectsWith(keys.createKey({ name: "", role: Role.VIEWER }), Code.InvalidArgument, /^name: must not be empty/);
  await rejectsWith(
    keys.createKey({ name: "x\ny", role: Role.VIEWER }),
    Code.InvalidArgument,
    /name: .* is not a valid key name/,
  );
  await rejectsWith(keys.createKey({ name: "k".repeat(65), role: Role.VIEWER }), Code.InvalidArgument, /at most 64/);
  await rejectsWith(keys.createKey({ name: "k" }), Code.InvalidArgument, /role: must be ROLE_VIEWER/);
  await rejectsWith(
    keys.createKey({ name: "k", role: Role.OPERATOR, routes: ["chat"] }),
    Code.InvalidArgument,
    /routes: only client keys take routes \(this key is operator\)/,
  );
  await rejectsWith(
    keys.createKey({ name: "k", role: Role.ADMIN, limits: { requestsPerMinute: 5 } }),
    Code.InvalidArgument,
    /limits: only client keys take limits/,
  );
  await rejectsWith(
    keys.createKey({ name: "k", role: Role.CLIENT, routes: ["chat", "a b", "chat"] }),
    Code.InvalidArgument,
    /routes\[1\]: "a b" must not contain whitespace; routes\[2\]: duplicate route "chat"/,
  );
  // negative limits cannot even be sent: the JSON codec refuses them as a bad request
  const res = await fetch(`${plane.url}/turnout.v1.KeyService/CreateKey`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ name: "k", role: "ROLE_CLIENT", limits: { requestsPerMinute: -1 } }),
  });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { code: string }).code, "invalid_argument");
  assert.deepEqual((await keys.listKeys({})).keys, [], "nothing was stored");
});

test("a client key has no rights on the admin port", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const client = await keyOf(plane, Role.CLIENT);
  await rejectsWith(
    plane.client(AdminService, client.token).listNodes({}),
    Code.PermissionDenied,
    new RegExp(`key ${client.id} is a client key: it has no rights on the admin API`),
  );
});

test("the audit log records each write with the key id that made it, refused writes too, and no reads", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const operator = await keyOf(plane, Role.OPERATOR);
  const viewer = await keyOf(plane, Role.VIEWER);
  const switched = await plane
    .client(AdminService, operator.token)
    .switchModel({ route: "chat", variant: "small", skipPrewarm: true });
  await rejectsWith(plane.client(AdminService, viewer.token).setWeights(split), Code.PermissionDenied);
  await rejectsWith(
    plane.client(AdminService, operator.token).switchModel({ route: "chat", variant: "nope" }),
    Code.InvalidArgument,
  );
  await plane.client(AdminService, viewer.token).listNodes({});
  await rejectsWith(plane.client(AdminService).setWeights(split), Code.Unauthenticated);
  // the streaming switch is recorded when its stream ends
  for await (const _ of plane.client(SwitchService, operator.token).switch({ route: "chat", variant: "big" })) void _;
  const refusedStream = (async () => {
    for await (const _ of plane.client(SwitchService, viewer.token).switch({ route: "chat", variant: "small" })) void _;
  })();
  await rejectsWith(refusedStream, Code.PermissionDenied);

  const entries = (await plane.client(KeyService, ADMIN_TOKEN).listAuditEntries({})).entries;
  assert.deepEqual(
    entries.map((e) => [e.keyId, e.method, e.code]),
    [
      ["bootstrap", "turnout.v1.KeyService/CreateKey", "ok"],
      ["bootstrap", "turnout.v1.KeyService/CreateKey", "ok"],
      [operator.id, "turnout.v1.AdminService/SwitchModel", "ok"],
      [viewer.id, "turnout.v1.AdminService/SetWeights", "permission_denied"],
      [operator.id, "turnout.v1.AdminService/SwitchModel", "invalid_argument"],
      [operator.id, "turnout.v1.SwitchService/Switch", "ok"],
      [viewer.id, "turnout.v1.SwitchService/Switch", "permission_denied"],
    ],
  );
  const [, , ok, denied, bad, streamed, deniedStream] = entries;
  assert.deepEqual(
    [ok.role, ok.revision, ok.snapshotVersion, JSON.parse(ok.request).variant],
    [Role.OPERATOR, switched.revision, switched.snapshotVersion, "small"],
  );
  assert.equal(JSON.parse(denied.request).route, "chat");
  assert.match(denied.error, /needs operator/);
  assert.match(bad.error, /"nope" is not a variant/);
  assert.equal(JSON.parse(streamed.request).variant, "big");
  assert.equal(JSON.parse(deniedStream.request).variant, "small", "a refused stream's request is recorded too");
  assert.match(ok.remoteAddress, /127\.0\.0\.1/);
  assert.ok(entries.every((e, i) => e.seq === BigInt(i + 1)));
  assert.ok(!entries.some((e) => e.request.includes("tk_")), "no token in the log");

  const mine = await plane.client(KeyService, ADMIN_TOKEN).listAuditEntries({ keyId: viewer.id });
  assert.deepEqual(
    mine.entries.map((e) => e.method),
    ["turnout.v1.AdminService/SetWeights", "turnout.v1.SwitchService/Switch"],
  );
  const last = await plane.client(KeyService, ADMIN_TOKEN).listAuditEntries({ limit: 2 });
  assert.deepEqual(
    last.entries.map((e) => e.seq),
    [6n, 7n],
  );
});

test("ConfigChanged events carry the key id of the caller", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const operator = await keyOf(plane, Role.OPERATOR);
  const stop = new AbortController();
  t.after(() => stop.abort());
  const events = plane.transport.bus.subscribe(SUBJECTS.configChanged, stop.signal)[Symbol.asyncIterator]();
  const next = async () => fromJsonString(ConfigChangedSchema, new TextDecoder().decode((await events.next()).value!.data));

  await plane.client(AdminService, operator.token).setWeights(split);
  const weights = await next();
  assert.deepEqual([weights.kind, weights.name, weights.action, weights.keyId], ["route", "chat", "weights", operator.id]);
  const made = await plane.client(KeyService, ADMIN_TOKEN).createKey({ name: "k", role: Role.VIEWER });
  const created = await next();
  assert.deepEqual(
    [created.kind, created.name, created.action, created.keyId, created.snapshotVersion],
    ["key", made.key!.id, "create", "bootstrap", made.snapshotVersion],
  );
  for await (const _ of plane.client(SwitchService, operator.token).switch({ route: "chat", variant: "small" })) void _;
  const switched = await next();
  assert.deepEqual([switched.action, switched.keyId], ["switch", operator.id]);
});
