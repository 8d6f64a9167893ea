import { test } from "node:test";
import assert from "node:assert/strict";
import { startPlane } from "./admin-harness.ts";

test("a burst of concurrent writes is carried by fewer snapshots than writes, every change in the final snapshot", async () => {
  const plane = await startPlane();
  try {
    const writes = Array.from({ length: 20 }, (_, i) =>
      plane.admin.putNode({ node: { id: `gpu-${i}`, baseUrl: `http://10.0.0.${i + 1}:11434` } }),
    );
    const answers = await Promise.all(writes);
    const versions = new Set(answers.map((a) => a.snapshotVersion));
    assert.ok(versions.size < 20, `20 writes made ${versions.size} snapshots`);
    const final = (await plane.admin.getSnapshot({})).snapshot!;
    assert.equal(final.nodes.length, 20);
    assert.equal(final.version, 1n + BigInt(versions.size), "versions are consecutive: one per publish");
    // The last writes' answers name the final snapshot.
    assert.equal(answers[19].snapshotVersion, final.version);
  } finally {
    await plane.close();
  }
});
