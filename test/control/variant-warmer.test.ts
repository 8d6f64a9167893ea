import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { NodeSchema, RouteSchema } from "../../gen/turnout/v1/routing_pb.js";
import { createStateStore } from "../../src/control/state/state-store.ts";
import { createVariantWarmer } from "../../src/control/switch/variant-warmer.ts";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";
import { startSimulator } from "../../src/sim/simulator.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";

test("the rollouts' warmer loads a variant's model on the nodes the stored state gives it, and names what does not exist", async (t) => {
  const sim = await startSimulator({ models: ["qwen3:32b", "qwen3:8b"], loadMs: 200 });
  const other = await startSimulator({ models: ["qwen3:32b", "qwen3:8b"], loadMs: 200 });
  const dir = await mkdtemp(join(tmpdir(), "turnout-warmer-"));
  const kv = createFileKvStore({ dir, fsync: false });
  t.after(async () => {
    await kv.close();
    await Promise.all([sim.close(), other.close()]);
    await rm(dir, { recursive: true, force: true });
  });
  const store = createStateStore(kv);
  await store.putNode(create(NodeSchema, { id: "gpu-1", baseUrl: sim.url }), 0);
  await store.putNode(create(NodeSchema, { id: "gpu-2", baseUrl: other.url }), 0);
  await store.putRoute(
    create(RouteSchema, {
      name: "chat",
      defaultVariant: "stable",
      variants: [
        { name: "stable", model: "qwen3:32b", nodes: ["gpu-2"] },
        { name: "canary", model: "qwen3:8b", nodes: ["gpu-1"] },
      ],
    }),
    0,
  );
  const warm = createVariantWarmer(store);

  await warm("chat", "canary", AbortSignal.timeout(10_000));
  assert.equal(sim.isLoaded("qwen3:8b"), true, "the canary's model is resident on its node");
  assert.equal(other.isLoaded("qwen3:8b"), false, "and on no node outside the variant");

  await assert.rejects(
    warm("chat", "nope", AbortSignal.timeout(1000)),
    (err: unknown) =>
      err instanceof TurnoutError && err.code === ErrorCode.NotFound && /variant "nope" of route "chat"/.test(err.message),
  );
  await assert.rejects(
    warm("other", "canary", AbortSignal.timeout(1000)),
    (err: unknown) => err instanceof TurnoutError && err.code === ErrorCode.NotFound && /route "other"/.test(err.message),
  );
});
