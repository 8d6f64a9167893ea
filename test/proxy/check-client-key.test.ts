import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { KeySnapshotSchema, Role } from "../../gen/turnout/v1/routing_pb.js";
import { bearerToken, checkClientKey, KeyProblem } from "../../src/proxy/auth/check-client-key.ts";
import { compileKeys } from "../../src/proxy/auth/compiled-key.ts";
import { testKey } from "./client-key-fixture.ts";

const NOW = Date.parse("2030-01-01T00:00:00Z");

describe("the client-key check", () => {
  const client = testKey({ routes: ["a", "b"], limits: { requestsPerMinute: 5 } });
  const later = testKey({ expiresAtMs: NOW + 1 });
  const operator = testKey({ role: Role.OPERATOR });
  const keys = compileKeys([client, later, operator].map((k) => create(KeySnapshotSchema, k.snapshot)));

  it("reads the Bearer scheme in any case and nothing else", () => {
    assert.equal(bearerToken("Bearer abc"), "abc");
    assert.equal(bearerToken("bearer  abc "), "abc");
    assert.equal(bearerToken("BEARER abc"), "abc");
    assert.equal(bearerToken("Basic abc"), undefined);
    assert.equal(bearerToken("Bearer "), undefined);
    assert.equal(bearerToken("Bearerabc"), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });

  it("answers the compiled key of a good token: its scope, limits and expiry", () => {
    const key = checkClientKey(keys, true, `Bearer ${client.token}`, NOW);
    assert.ok(typeof key === "object" && key !== null);
    assert.equal(key.id, client.id);
    assert.deepEqual([...(key.routes ?? [])], ["a", "b"]);
    assert.equal(key.limits.requestsPerMinute, 5);
    assert.equal(key.counted, true);
    assert.equal(key.expiresAtMs, Number.POSITIVE_INFINITY);
  });

  it("checks the expiry against the clock of the request, not of the snapshot", () => {
    assert.equal(typeof checkClientKey(keys, true, `Bearer ${later.token}`, NOW), "object");
    assert.equal(checkClientKey(keys, true, `Bearer ${later.token}`, NOW + 1), KeyProblem.Expired);
  });

  it("refuses a wrong secret, an unknown id and an admin role, required or not", () => {
    const wrong = `${client.token.slice(0, -1)}${client.token.endsWith("A") ? "B" : "A"}`;
    for (const required of [true, false]) {
      assert.equal(checkClientKey(keys, required, `Bearer ${wrong}`, NOW), KeyProblem.Invalid);
      assert.equal(checkClientKey(keys, required, `Bearer ${testKey().token}`, NOW), KeyProblem.Invalid);
      assert.equal(checkClientKey(keys, required, `Bearer ${operator.token}`, NOW), KeyProblem.NotClient);
    }
  });

  it("lets requests without a Turnout token through anonymously only when keys are not required", () => {
    assert.equal(checkClientKey(keys, false, undefined, NOW), undefined);
    assert.equal(checkClientKey(keys, false, "Bearer sk-placeholder", NOW), undefined);
    assert.equal(checkClientKey(keys, true, undefined, NOW), KeyProblem.Missing);
    assert.equal(checkClientKey(keys, true, "Bearer sk-placeholder", NOW), KeyProblem.Invalid);
  });

  it("remembers a token whose secret matched, never a bad one, and still checks role and expiry on every request", () => {
    const table = compileKeys([client, later, operator].map((k) => create(KeySnapshotSchema, k.snapshot)));
    const wrong = `${later.token.slice(0, -1)}${later.token.endsWith("A") ? "B" : "A"}`;
    for (let i = 0; i < 3; i++) assert.equal(checkClientKey(table, true, `Bearer ${wrong}`, NOW), KeyProblem.Invalid);
    assert.equal(table.verified.size, 0);
    for (let i = 0; i < 3; i++) assert.equal(typeof checkClientKey(table, true, `Bearer ${later.token}`, NOW), "object");
    assert.deepEqual([...table.verified.keys()], [later.token]);
    assert.equal(checkClientKey(table, true, `Bearer ${later.token}`, NOW + 1), KeyProblem.Expired);
    assert.equal(checkClientKey(table, true, `Bearer ${operator.token}`, NOW), KeyProblem.NotClient);
    assert.equal(checkClientKey(table, true, `Bearer ${operator.token}`, NOW), KeyProblem.NotClient, "remembered, still refused");
    assert.equal(table.verified.size, 2);
  });

  it("never matches a key whose stored hash is malformed", () => {
    const broken = testKey();
    const table = compileKeys([create(KeySnapshotSchema, { ...broken.snapshot, secretSha256: "not-hex" })]);
    assert.equal(checkClientKey(table, true, `Bearer ${broken.token}`, NOW), KeyProblem.Invalid);
  });
});
