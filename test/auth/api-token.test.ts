import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { newApiToken, parseApiToken, secretSha256 } from "../../src/auth/api-token.ts";

describe("API tokens", () => {
  it("are tk_<16 hex>_<43 base64url> with a random id and secret, and parse back into their parts", () => {
    const a = newApiToken();
    const b = newApiToken();
    assert.match(a.token, /^tk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(a.token, `tk_${a.id}_${a.secret}`);
    assert.notEqual(a.id, b.id);
    assert.notEqual(a.secret, b.secret);
    assert.deepEqual(parseApiToken(a.token), { id: a.id, secret: a.secret });
  });

  it("store the lowercase hex SHA-256 of the secret part only", () => {
    const t = newApiToken();
    const expected = createHash("sha256").update(t.secret).digest("hex");
    assert.equal(t.secretSha256, expected);
    assert.equal(secretSha256(t.secret), expected);
    assert.ok(!t.secretSha256.includes(t.secret));
  });

  it("refuse text that is not a token", () => {
    const t = newApiToken();
    for (const bad of [
      "",
      "unused",
      t.token.slice(0, -1),
      `${t.token}x`,
      t.token.replace("tk_", "tx_"),
      t.token.toUpperCase(),
      `tk_${t.id.slice(0, 15)}g_${t.secret}`,
      `tk_${t.id}-${t.secret}`,
      `tk_${t.id}_${t.secret.slice(0, 42)}=`,
    ])
      assert.equal(parseApiToken(bad), undefined, bad);
  });
});
