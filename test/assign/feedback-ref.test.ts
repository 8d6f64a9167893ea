import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, createSecretKey, randomUUID } from "node:crypto";
import { MAX_REF_LENGTH, refKey, signRef, verifyRef, type RefFields } from "../../src/assign/feedback-ref.ts";
import { fnv1a32 } from "../../src/assign/hash.ts";
import { TurnoutError } from "../../src/errors.ts";

const KEY = "test-secret-0123456789abcdef";
const OTHER = "another-secret-0123456789abcdef";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const fields: RefFields = {
  experiment: "ttft-8b-vs-32b",
  phase: 2,
  arm: 1,
  unitHash: fnv1a32("alice").toString(16),
  requestId: "3c7820cb-0d6e-4b1a-9f0e-2f4c1b7a9e55",
  snapshotVersion: 17,
  issuedAt: Date.UTC(2026, 11, 1, 19, 30),
};

test("round trip: a signed ref verifies to the same fields, for UUID and other request ids", () => {
  const ref = signRef(fields, KEY);
  assert.match(ref, /^t1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(verifyRef(ref, KEY), { ok: true, fields });
  const other = {
    ...fields,
    requestId: "req:42/a+b=c@x",
    unitHash: "0",
    experiment: "é-ß-実験",
    phase: 0,
    arm: 0,
    snapshotVersion: 0,
    issuedAt: 0,
  };
  assert.deepEqual(verifyRef(signRef(other, KEY), KEY), { ok: true, fields: other });
  const big = {
    ...fields,
    phase: Number.MAX_SAFE_INTEGER,
    arm: 300,
    unitHash: "ffffffff",
    snapshotVersion: 2 ** 40,
    issuedAt: Number.MAX_SAFE_INTEGER,
  };
  assert.deepEqual(verifyRef(signRef(big, KEY), KEY), { ok: true, fields: big });
  const fresh = { ...fields, requestId: randomUUID() };
  assert.deepEqual(verifyRef(signRef(fresh, Buffer.from(KEY)), KEY), { ok: true, fields: fresh });
  assert.deepEqual(
    verifyRef(signRef(fresh, refKey(KEY)), refKey(Buffer.from(KEY))),
    { ok: true, fields: fresh },
    "a KeyObject is the same key",
  );
});

test("a typical ref fits a header easily; the longest possible one is within MAX_REF_LENGTH", () => {
  const typical = signRef(fields, KEY);
  assert.ok(typical.length <= 110, `typical ref is ${typical.length} characters`);
  const longest = signRef(
    {
      experiment: "e".repeat(200),
      phase: Number.MAX_SAFE_INTEGER,
      arm: Number.MAX_SAFE_INTEGER,
      unitHash: "ffffffff",
      requestId: "r".repeat(128),
      snapshotVersion: Number.MAX_SAFE_INTEGER,
      issuedAt: Number.MAX_SAFE_INTEGER,
    },
    KEY,
  );
  assert.equal(longest.length, 539);
  assert.ok(longest.length <= MAX_REF_LENGTH);
  assert.equal(verifyRef(longest, KEY).ok, true);
});

test("any altered character anywhere is rejected", () => {
  const ref = signRef(fields, KEY);
  let tried = 0;
  for (let i = 0; i < ref.length; i++) {
    for (const c of [...B64URL, ".", "=", " "]) {
      if (c === ref[i]) continue;
      const altered = ref.slice(0, i) + c + ref.slice(i + 1);
      const result = verifyRef(altered, KEY);
      assert.equal(result.ok, false, `position ${i} → ${JSON.stringify(c)} was accepted`);
      tried++;
    }
  }
  assert.ok(tried > 5000);
});

test("truncated, extended, forged and other-key refs are rejected with their reason", () => {
  const ref = signRef(fields, KEY);
  for (let n = 0; n < ref.length; n++) assert.equal(verifyRef(ref.slice(0, n), KEY).ok, false, `truncated to ${n}`);
  assert.deepEqual(verifyRef(`${ref}A`, KEY), { ok: false, reason: "malformed" });
  assert.deepEqual(verifyRef(ref, OTHER), { ok: false, reason: "bad_signature" });
  const [prefix, payload] = ref.split(".");
  const forged = `${prefix}.${payload}.${createHmac("sha256", OTHER).update(`${prefix}.${payload}`).digest("base64url")}`;
  assert.deepEqual(verifyRef(forged, KEY), { ok: false, reason: "bad_signature" });
  // A signature from one ref on another ref's payload (a different arm) does not verify.
  const treatment = signRef({ ...fields, arm: 0 }, KEY);
  assert.deepEqual(verifyRef(`${prefix}.${treatment.split(".")[1]}.${ref.split(".")[2]}`, KEY), {
    ok: false,
    reason: "bad_signature",
  });
  assert.deepEqual(verifyRef(`${prefix}.${payload}.${"A".repeat(43)}`, KEY), { ok: false, reason: "bad_signature" });
});

test("shape, version and length are checked before the signature", () => {
  const ref = signRef(fields, KEY);
  assert.deepEqual(verifyRef(`t2.${ref.slice(3)}`, KEY), { ok: false, reason: "unknown_version" });
  assert.deepEqual(verifyRef(`t10.${ref.slice(3)}`, KEY), { ok: false, reason: "unknown_version" });
  assert.deepEqual(verifyRef(ref.slice(3), KEY), { ok: false, reason: "malformed" });
  assert.deepEqual(verifyRef("", KEY), { ok: false, reason: "malformed" });
  assert.deepEqual(verifyRef(undefined, KEY), { ok: false, reason: "malformed" });
  assert.deepEqual(verifyRef(42, KEY), { ok: false, reason: "malformed" });
  assert.deepEqual(verifyRef(`t1.${"A".repeat(MAX_REF_LENGTH)}.${"A".repeat(43)}`, KEY), { ok: false, reason: "too_long" });
  // Correctly signed bytes that are not a v1 payload are malformed, not accepted.
  const signed = `t1.${Buffer.from([0, 1]).toString("base64url")}`;
  assert.deepEqual(verifyRef(`${signed}.${createHmac("sha256", KEY).update(signed).digest("base64url")}`, KEY), {
    ok: false,
    reason: "malformed",
  });
});

test("key rotation: verify with the new and old keys, sign with the new one", () => {
  const old = signRef(fields, OTHER);
  assert.deepEqual(verifyRef(old, [KEY, OTHER]), { ok: true, fields });
  assert.deepEqual(verifyRef(old, [KEY]), { ok: false, reason: "bad_signature" });
});

test("bad fields and short keys are refused when signing, naming each field", () => {
  assert.throws(
    () =>
      signRef(
        {
          ...fields,
          experiment: "",
          phase: -1,
          arm: 1.5,
          unitHash: "0abc",
          requestId: "has space",
          snapshotVersion: Number.NaN,
          issuedAt: 2 ** 60,
        },
        KEY,
      ),
    (err: unknown) =>
      err instanceof TurnoutError &&
      err.violations.map((v) => v.field).join(",") === "experiment,phase,arm,unitHash,requestId,snapshotVersion,issuedAt",
  );
  assert.throws(
    () => signRef({ ...fields, experiment: "a\ud800" }, KEY),
    /experiment: must be 1..200 bytes of well-formed UTF-8/,
  );
  assert.throws(() => signRef(fields, "short"), RangeError);
  assert.throws(() => verifyRef(signRef(fields, KEY), "short"), RangeError);
  assert.throws(() => refKey(createSecretKey(Buffer.alloc(15))), RangeError);
});

test("the wire format is pinned: known fields and key give exactly these refs (UUID, other id, UTF-8 experiment, big integers)", () => {
  const key = "vector-key-0123456789abcdef";
  const vectors: [RefFields, string][] = [
    [
      {
        experiment: "small-model",
        phase: 0,
        arm: 1,
        unitHash: "9e3779b9",
        requestId: "3c7820cb-1f2e-4d5a-8b9c-0123456789ab",
        snapshotVersion: 7,
        issuedAt: 1_800_000_000_000,
      },
      "t1.AQtzbWFsbC1tb2RlbAABnjd5uTx4IMsfLk1ai5wBI0VniasHgKDxwrE0._5o_UU1utSZwkdCWcBK0po5CrxmpeTxITqeM7WiOG7A",
    ],
    [
      {
        experiment: "é-ünïcode-实验",
        phase: 300,
        arm: 0,
        unitHash: "0",
        requestId: "req_1.2:3@4/5+6=7-8",
        snapshotVersion: 2 ** 40,
        issuedAt: 1,
      },
      "t1.ABPDqS3DvG7Dr2NvZGUt5a6e6aqMrAIAAAAAABNyZXFfMS4yOjNANC81KzY9Ny04gICAgIAgAQ.34sgYtE5x9BjJOACjukmxnGrbIWXl-3ywbUBxdkxF08",
    ],
  ];
  for (const [f, ref] of vectors) {
    assert.equal(signRef(f, key), ref);
    assert.deepEqual(verifyRef(ref, key), { ok: true, fields: f });
  }
  // the longest fields fit and round-trip
  const longest: RefFields = {
    experiment: "x".repeat(200),
    phase: 2 ** 53 - 1,
    arm: 127,
    unitHash: "ffffffff",
    requestId: "r".repeat(128),
    snapshotVersion: 2 ** 53 - 1,
    issuedAt: 2 ** 53 - 1,
  };
  const ref = signRef(longest, key);
  assert.ok(ref.length <= MAX_REF_LENGTH, String(ref.length));
  assert.deepEqual(verifyRef(ref, key), { ok: true, fields: longest });
});
