import assert from "node:assert/strict";
import * as fs from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { signRef, verifyRef } from "../../src/assign/feedback-ref.ts";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { loadRefKey, REF_SECRET_FILE } from "../../src/proxy/routing/load-ref-key.ts";

const logger = createLogger({ level: "silent" });
const fields = { experiment: "e", phase: 0, arm: 1, unitHash: "abc", requestId: "r-1", snapshotVersion: 3, issuedAt: 1 };

test("without a secret the proxy generates one in its data dir and keeps it across restarts", () => {
  const dir = mkdtempSync(join(tmpdir(), "turnout-ref-"));
  const saved = process.env.TURNOUT_REF_SECRET;
  delete process.env.TURNOUT_REF_SECRET;
  try {
    const first = loadRefKey(undefined, dir, logger);
    const stat = fs.statSync(join(dir, REF_SECRET_FILE));
    assert.equal(stat.mode & 0o077, 0, "not readable by others");
    const ref = signRef(fields, first);
    assert.ok(verifyRef(ref, loadRefKey(undefined, dir, logger)).ok, "same key after a restart");
    process.env.TURNOUT_REF_SECRET = "from-the-environment-123";
    assert.ok(
      verifyRef(signRef(fields, loadRefKey(undefined, dir, logger)), "from-the-environment-123").ok,
      "the environment wins",
    );
    assert.ok(
      verifyRef(signRef(fields, loadRefKey("from-the-option-12345", dir, logger)), "from-the-option-12345").ok,
      "the option wins",
    );
    assert.throws(() => loadRefKey("short", dir, logger), /at least 16 bytes/);
  } finally {
    if (saved === undefined) delete process.env.TURNOUT_REF_SECRET;
    else process.env.TURNOUT_REF_SECRET = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

// A data dir's generated secret that was once committed to this repository: public, so burned.
const BURNED = "41f3962e54d4343d8dd8dc0f0a83e5b8d4359ea654b831b1234699de756b7968";

test("a burned secret is refused when given and replaced when found in the data dir", () => {
  const dir = mkdtempSync(join(tmpdir(), "turnout-ref-"));
  const saved = process.env.TURNOUT_REF_SECRET;
  delete process.env.TURNOUT_REF_SECRET;
  try {
    assert.throws(() => loadRefKey(BURNED, dir, logger), /TURNOUT_REF_SECRET: this secret has been published and is burned/);
    process.env.TURNOUT_REF_SECRET = BURNED;
    assert.throws(() => loadRefKey(undefined, dir, logger), /burned/);
    delete process.env.TURNOUT_REF_SECRET;

    fs.writeFileSync(join(dir, REF_SECRET_FILE), `${BURNED}\n`, { mode: 0o600 });
    const key = loadRefKey(undefined, dir, logger);
    const replaced = fs.readFileSync(join(dir, REF_SECRET_FILE), "utf8").trim();
    assert.notEqual(replaced, BURNED);
    assert.match(replaced, /^[0-9a-f]{64}$/);
    assert.equal(fs.statSync(join(dir, REF_SECRET_FILE)).mode & 0o077, 0, "not readable by others");
    const forged = signRef(fields, BURNED);
    assert.equal(verifyRef(forged, key).ok, false, "a ref signed with the burned secret is refused");
    assert.ok(verifyRef(signRef(fields, key), replaced).ok, "the new secret signs");
  } finally {
    if (saved === undefined) delete process.env.TURNOUT_REF_SECRET;
    else process.env.TURNOUT_REF_SECRET = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a ref secret file that group or others may read is refused, naming the file and the fix", () => {
  const dir = mkdtempSync(join(tmpdir(), "turnout-ref-"));
  const saved = process.env.TURNOUT_REF_SECRET;
  delete process.env.TURNOUT_REF_SECRET;
  try {
    const file = join(dir, REF_SECRET_FILE);
    fs.writeFileSync(file, `${"ab".repeat(32)}\n`, { mode: 0o600 });
    fs.chmodSync(file, 0o644);
    assert.throws(
      () => loadRefKey(undefined, dir, logger),
      (err: unknown) => {
        assert.ok(err instanceof TurnoutError);
        assert.equal(err.code, ErrorCode.FailedPrecondition);
        assert.equal(
          err.message,
          `the x-turnout-ref secret: ${file} may be read by group or others (mode 0644); make it private with \`chmod 600 ${file}\``,
        );
        return true;
      },
    );
    assert.equal(fs.readFileSync(file, "utf8"), `${"ab".repeat(32)}\n`, "the file is left as it was");
    fs.chmodSync(file, 0o640);
    assert.throws(() => loadRefKey(undefined, dir, logger), /mode 0640/);
    fs.chmodSync(file, 0o600);
    const key = loadRefKey(undefined, dir, logger);
    assert.ok(verifyRef(signRef(fields, key), "ab".repeat(32)).ok, "once private, the secret is used");
  } finally {
    if (saved === undefined) delete process.env.TURNOUT_REF_SECRET;
    else process.env.TURNOUT_REF_SECRET = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the proxy's data dir is created 0700, and an existing one open to others is narrowed to 0700", () => {
  const parent = mkdtempSync(join(tmpdir(), "turnout-ref-"));
  const saved = process.env.TURNOUT_REF_SECRET;
  delete process.env.TURNOUT_REF_SECRET;
  try {
    const fresh = join(parent, "fresh", "proxy");
    loadRefKey(undefined, fresh, logger);
    assert.equal(fs.statSync(fresh).mode & 0o777, 0o700);
    assert.equal(fs.statSync(join(parent, "fresh")).mode & 0o777, 0o700, "missing parents too");
    const open = join(parent, "open");
    fs.mkdirSync(open, { mode: 0o755 });
    fs.chmodSync(open, 0o755);
    loadRefKey(undefined, open, logger);
    assert.equal(fs.statSync(open).mode & 0o777, 0o700);
  } finally {
    if (saved === undefined) delete process.env.TURNOUT_REF_SECRET;
    else process.env.TURNOUT_REF_SECRET = saved;
    rmSync(parent, { recursive: true, force: true });
  }
});
