import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Role } from "../../gen/turnout/v1/routing_pb.js";
import { KEY_ID, newApiToken, parseApiToken, secretMatches, secretSha256 } from "../../src/auth/api-token.ts";
import { isAdminRole, roleAllows, roleName, roleNamed } from "../../src/auth/roles.ts";

test("a new token is tk_<16 hex id>_<43 base64url secret>, and only the secret's SHA-256 is kept", () => {
  const t = newApiToken();
  assert.match(t.token, /^tk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.match(t.id, KEY_ID);
  const parsed = parseApiToken(t.token);
  assert.ok(parsed);
  assert.equal(parsed.id, t.id);
  assert.equal(Buffer.from(parsed.secret, "base64url").length, 32, "32 random bytes");
  assert.equal(t.secretSha256, createHash("sha256").update(parsed.secret).digest("hex"));
  assert.equal(secretSha256(parsed.secret), t.secretSha256);
  assert.ok(!JSON.stringify({ id: t.id, sha: t.secretSha256 }).includes(parsed.secret), "the hash does not contain the secret");
});

test("tokens are unique", () => {
  const ids = new Set(Array.from({ length: 200 }, () => newApiToken().id));
  assert.equal(ids.size, 200);
});

test("parseApiToken refuses anything not of the exact form", () => {
  const { token } = newApiToken();
  for (const bad of [
    "",
    token.slice(1),
    `${token}x`,
    token.slice(0, -1),
    token.replace("tk_", "tk-"),
    token.toUpperCase(),
    `Bearer ${token}`,
    ` ${token}`,
    "tk_0123456789abcdef_",
    "tk_0123456789ABCDEF_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  ]) {
    assert.equal(parseApiToken(bad), undefined, JSON.stringify(bad));
  }
  // the secret may itself hold '_' and '-' (base64url)
  const underscores = `tk_0123456789abcdef_${"_-".repeat(21)}a`;
  assert.deepEqual(parseApiToken(underscores), { id: "0123456789abcdef", secret: `${"_-".repeat(21)}a` });
});

test("secretMatches compares against the stored hash and refuses what is not a hash", () => {
  const { token, secretSha256: sha } = newApiToken();
  const { secret } = parseApiToken(token)!;
  assert.equal(secretMatches(secret, sha), true);
  assert.equal(secretMatches(`${secret.slice(0, -1)}A`, sha), false);
  assert.equal(secretMatches(secret, sha.toUpperCase()), false, "upper-case hex is no stored hash");
  assert.equal(secretMatches(secret, ""), false);
  assert.equal(secretMatches(secret, secret), false);
});

test("roles: viewer < operator < admin; a client key has no admin role", () => {
  assert.equal(roleAllows(Role.ADMIN, Role.OPERATOR), true);
  assert.equal(roleAllows(Role.OPERATOR, Role.OPERATOR), true);
  assert.equal(roleAllows(Role.VIEWER, Role.OPERATOR), false);
  assert.equal(roleAllows(Role.OPERATOR, Role.ADMIN), false);
  assert.equal(roleAllows(Role.CLIENT, Role.VIEWER), false);
  assert.equal(roleAllows(Role.UNSPECIFIED, Role.VIEWER), false);
  assert.equal(isAdminRole(Role.CLIENT), false);
  assert.equal(isAdminRole(Role.VIEWER), true);
  assert.deepEqual(["viewer", "OPERATOR", "role_admin", "ROLE_CLIENT", "root"].map(roleNamed), [
    Role.VIEWER,
    Role.OPERATOR,
    Role.ADMIN,
    Role.CLIENT,
    undefined,
  ]);
  assert.equal(roleName(Role.OPERATOR), "operator");
  assert.equal(roleName(9 as Role), "role 9");
});
