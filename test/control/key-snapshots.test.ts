import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { KeyRecordSchema, type KeyRecord } from "../../gen/turnout/v1/keys_pb.js";
import { Role } from "../../gen/turnout/v1/routing_pb.js";
import { newApiToken } from "../../src/auth/api-token.ts";
import { compileSnapshot, desiredOf } from "../../src/control/publish/compile.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";

const NOW = Date.parse("2030-06-01T00:00:00Z");

function record(
  id: string,
  role: Role,
  extra: { revokedAtMs?: number; expiresAtMs?: number; routes?: string[] } = {},
): KeyRecord {
  return create(KeyRecordSchema, {
    key: {
      id,
      name: `key-${id}`,
      role,
      routes: extra.routes ?? [],
      limits: role === Role.CLIENT ? { requestsPerMinute: 60 } : undefined,
      createdAt: timestampFromMs(NOW - 1000),
      revokedAt: extra.revokedAtMs === undefined ? undefined : timestampFromMs(extra.revokedAtMs),
      expiresAt: extra.expiresAtMs === undefined ? undefined : timestampFromMs(extra.expiresAtMs),
      createdBy: "bootstrap",
    },
    secretSha256: newApiToken().secretSha256,
  });
}

function compile(records: KeyRecord[], nowMs = NOW) {
  const desired = desiredOf({
    nodes: [],
    routes: [],
    experiments: [],
    keys: records.map((value, i) => ({ value, revision: i + 1 })),
  });
  return compileSnapshot(desired, undefined, new Date(nowMs));
}

test("keys are compiled into the snapshot sorted by id, hashes only, without revoked or expired ones", () => {
  const records = [
    record("ffffffffffffffff", Role.CLIENT, { routes: ["chat"] }),
    record("0000000000000001", Role.ADMIN),
    record("00000000000000aa", Role.VIEWER, { revokedAtMs: NOW - 10 }),
    record("00000000000000bb", Role.OPERATOR, { expiresAtMs: NOW }),
    record("00000000000000cc", Role.OPERATOR, { expiresAtMs: NOW + 60_000 }),
  ];
  const snapshot = compile(records);
  assert.deepEqual(
    snapshot.keys.map((k) => k.id),
    ["0000000000000001", "00000000000000cc", "ffffffffffffffff"],
  );
  const client = snapshot.keys.at(-1)!;
  assert.deepEqual([client.role, client.routes, client.limits?.requestsPerMinute], [Role.CLIENT, ["chat"], 60]);
  assert.equal(client.secretSha256, records[0].secretSha256);
  assert.deepEqual(checkSnapshot(snapshot), []);
  // an hour later the expiring key is gone too, and the content hash says the content changed
  const later = compile(records, NOW + 3_600_000);
  assert.deepEqual(
    later.keys.map((k) => k.id),
    ["0000000000000001", "ffffffffffffffff"],
  );
  assert.notEqual(later.contentHash, snapshot.contentHash);
  assert.equal(compile(records).contentHash, snapshot.contentHash, "deterministic");
});

test("the snapshot check refuses keys that are not what the control plane publishes", () => {
  const good = compile([record("0000000000000001", Role.ADMIN), record("0000000000000002", Role.CLIENT)]);
  const broken = structuredClone(good);
  broken.keys[0].id = "KEY-1";
  broken.keys[1].id = "0000000000000002";
  broken.keys.push({ ...broken.keys[1] });
  broken.keys[1].role = Role.UNSPECIFIED;
  broken.keys[2].secretSha256 = "tk_0000000000000002_secret";
  broken.keys[2].routes = [""];
  broken.contentHash = snapshotContentHash(broken);
  assert.deepEqual(
    checkSnapshot(broken).map((v) => v.field),
    ["keys[0].id", "keys[1].role", "keys[2].id", "keys[2].secret_sha256", "keys[2].routes[0]"],
  );
});
