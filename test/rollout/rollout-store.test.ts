import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { RolloutEventSchema } from "../../gen/turnout/v1/rollout_pb.js";
import { createRolloutStore } from "../../src/control/rollout/rollout-store.ts";
import { startRollout } from "../../src/control/rollout/rollout-machine.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";

function open(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), "turnout-rollout-store-"));
  const kv = createFileKvStore({ dir, fsync: false });
  t.after(async () => {
    await kv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return createRolloutStore(kv);
}

test("a lease is held until it expires: another owner takes it only then, and the first owner's renewal then fails", async (t) => {
  const rs = open(t);
  const t0 = 1_000_000;
  assert.equal(await rs.acquireLease("r-1", "cp-a", t0, 3000), true);
  assert.equal(await rs.acquireLease("r-1", "cp-b", t0 + 2999, 3000), false, "held by cp-a");
  assert.equal(await rs.acquireLease("r-1", "cp-a", t0 + 2000, 3000), true, "renewed until t0 + 5000");
  assert.equal(await rs.acquireLease("r-1", "cp-b", t0 + 4999, 3000), false);
  assert.equal(await rs.acquireLease("r-1", "cp-b", t0 + 5001, 3000), true, "expired: cp-b takes over");
  assert.equal(await rs.acquireLease("r-1", "cp-a", t0 + 5002, 3000), false, "cp-a learns it lost the lease");
  await rs.releaseLease("r-1", "cp-a"); // not its lease: nothing happens
  assert.equal(await rs.acquireLease("r-1", "cp-c", t0 + 5003, 3000), false);
  await rs.releaseLease("r-1", "cp-b");
  assert.equal(await rs.acquireLease("r-1", "cp-c", t0 + 5004, 3000), true, "released: free at once");
});

test("one active rollout per route: the claim is compare-and-swap", async (t) => {
  const rs = open(t);
  const claims = await Promise.all(["r-1", "r-2", "r-3"].map((id) => rs.claimRoute("qwen3:32b", id)));
  assert.deepEqual(claims.filter(Boolean).length, 1);
  const holder = (await rs.active("qwen3:32b"))!.id;
  assert.deepEqual(await rs.activeIds(), [holder]);
  await rs.releaseRoute("qwen3:32b", "r-other");
  assert.equal((await rs.active("qwen3:32b"))?.id, holder, "only the holder releases");
  await rs.releaseRoute("qwen3:32b", holder);
  assert.equal(await rs.active("qwen3:32b"), undefined);
});

test("rollout records are CAS-written and audit entries get consecutive sequence numbers", async (t) => {
  const rs = open(t);
  const { rollout } = startRollout(
    { id: "r-1", route: "chat", from: "a", to: "b", steps: [50, 100], intervalMs: 1000, gates: undefined },
    1_000_000,
  );
  const stored = await rs.put(rollout, 0);
  await assert.rejects(rs.put(rollout, 0), /aborted|expected|exists/i);
  const again = await rs.put({ ...stored, step: 1 }, Number(stored.revision));
  assert.equal((await rs.get("r-1"))!.step, 1);
  assert.equal((await rs.get("r-1"))!.revision, again.revision);
  const appended = await Promise.all(
    ["started", "step", "completed"].map((kind) => rs.appendAudit(create(RolloutEventSchema, { rolloutId: "r-1", kind }))),
  );
  assert.deepEqual(appended.map((e) => e.seq).sort(), [1, 2, 3]);
  assert.deepEqual(
    (await rs.audit("r-1")).map((e) => e.seq),
    [1, 2, 3],
  );
});
