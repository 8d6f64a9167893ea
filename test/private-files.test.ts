import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makePrivateDir } from "../src/private-files.ts";

const mode = (dir: string) => (statSync(dir).mode & 0o7777).toString(8);

test("a data dir is made 0700, an old one open to others is narrowed, and a shared directory is left alone", (t) => {
  const parent = mkdtempSync(join(tmpdir(), "turnout-private-"));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  makePrivateDir(join(parent, "a", "b"));
  assert.equal(mode(join(parent, "a")), "700");
  assert.equal(mode(join(parent, "a", "b")), "700");
  const old = join(parent, "old");
  mkdirSync(old);
  chmodSync(old, 0o755);
  makePrivateDir(old);
  assert.equal(mode(old), "700");
  const shared = join(parent, "shared");
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  makePrivateDir(shared);
  assert.equal(mode(shared), "1777", "a sticky, world-writable directory like /tmp stays as it is");
});
