import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { NodeSchema } from "../../gen/turnout/v1/routing_pb.js";
import { createControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import { TurnoutError } from "../../src/errors.ts";

test("two control planes writing the same node at once: lost races are re-read and retried, a stale expected revision is aborted", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turnout-races-"));
  const store = createFileKvStore({ dir, fsync: false });
  const logger = createLogger({ level: "silent" });
  const [a, b] = [await createControlPlane({ store, logger }), await createControlPlane({ store, logger })];
  try {
    const node = (i: number) =>
      create(NodeSchema, { id: "gpu-1", baseUrl: "http://10.0.0.1:11434", labels: { write: String(i) } });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).admin.putNode(node(i))));
    const failed = results.filter((r) => r.status === "rejected");
    assert.deepEqual(failed, [], "no write without an expected revision fails because another control plane won a race");
    const revisions = results.map((r) => (r as PromiseFulfilledResult<{ revision: number }>).value.revision);
    assert.equal(new Set(revisions).size, 12, "every write stored its own revision");

    const stored = await a.admin.getNode("gpu-1");
    await b.admin.putNode(node(99), stored.revision);
    await assert.rejects(
      a.admin.putNode(node(100), stored.revision),
      (err: unknown) => err instanceof TurnoutError && err.code === "aborted",
    );
  } finally {
    await a.close();
    await b.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
