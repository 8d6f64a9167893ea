import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createAuditLog } from "../../src/control/state/audit-log.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";

function tempStore(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-audit-"));
  const kv = createFileKvStore({ dir, fsync: false });
  t.after(async () => {
    await kv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return kv;
}

test("the audit log keeps its newest `capacity` entries: its size in the store is bounded", async (t) => {
  const kv = tempStore(t);
  const log = createAuditLog({ kv, capacity: 3 });
  for (let i = 1; i <= 7; i++) assert.equal(await log.append({ keyId: `k${i}`, method: "m", code: "ok" }), i);
  assert.deepEqual(
    (await log.list()).map((e) => [Number(e.seq), e.keyId]),
    [
      [5, "k5"],
      [6, "k6"],
      [7, "k7"],
    ],
  );
  assert.equal((await kv.list("admin-audit.")).length, 3, "three slots, overwritten in turn");
  assert.deepEqual(
    (await log.list({ limit: 10, keyId: "k6" })).map((e) => Number(e.seq)),
    [6],
  );
  assert.deepEqual((await log.list({ keyId: "k1" })).length, 0, "overwritten");
});

test("two writers sharing a store never take the same seq, and long texts are cut", async (t) => {
  const kv = tempStore(t);
  const a = createAuditLog({ kv });
  const b = createAuditLog({ kv });
  const seqs = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).append({ keyId: `k${i}`, code: "ok" })));
  assert.deepEqual(
    [...seqs].sort((x, y) => x - y),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.equal((await a.list({ limit: 50 })).length, 20);

  await a.append({ keyId: "long", request: "x".repeat(5000), error: "e".repeat(5000), code: "internal" });
  const [long] = await a.list({ keyId: "long" });
  assert.equal(long.request.length, 1024);
  assert.equal(long.error.length, 512);
  assert.ok(long.request.endsWith("…"));
});
