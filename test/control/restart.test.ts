import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { NodeSchema, RouteSchema } from "../../gen/turnout/v1/routing_pb.js";
import { loadConfigFile } from "../../src/control/config/load-config.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { removeDir, startPlane } from "./admin-harness.ts";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

test("a restart keeps every admin change, ignores the config file, and continues the snapshot version", async (t) => {
  const { state } = await loadConfigFile(fixture("native.yaml"));
  let plane = await startPlane({ bootstrap: state });
  const dir = plane.dir;
  t.after(async () => {
    await plane.close();
    removeDir(dir);
  });
  const boot = (await plane.admin.getSnapshot({})).snapshot!;
  assert.equal(boot.version, 1n, "the config is the first snapshot");
  assert.deepEqual(
    boot.routes.map((r) => r.name),
    ["qwen3-32b", "qwen3:8b"],
  );

  // Admin changes: a node, a route, a weight change, a switch, a deletion.
  await plane.admin.putNode({
    node: create(NodeSchema, { id: "gpu-3", baseUrl: "http://127.0.0.1:11436", models: ["llama3:8b"] }),
  });
  await plane.admin.putRoute({ route: create(RouteSchema, { name: "llama", variants: [{ name: "v1", model: "llama3:8b" }] }) });
  const weights = await plane.admin.setWeights({
    route: "qwen3-32b",
    weights: [
      { variant: "stable", weight: 70 },
      { variant: "small", weight: 30 },
    ],
  });
  await plane.admin.switchModel({ route: "qwen3:8b", variant: "only" }); // no-op: already the default
  await plane.admin.deleteRoute({ name: "qwen3:8b" });
  const switched = await plane.admin.switchModel({ route: "llama", variant: "v1" }); // no-op too
  const before = (await plane.admin.getSnapshot({})).snapshot!;
  const routesBefore = await plane.admin.listRoutes({});
  const nodesBefore = await plane.admin.listNodes({});
  const currentBefore = await plane.admin.getCurrentModel({ route: "qwen3-32b" });
  assert.equal(before.version, switched.snapshotVersion);
  await plane.close();

  // Restart with the same config file: the stored state wins.
  plane = await startPlane({ dir, bootstrap: state });
  const after = (await plane.admin.getSnapshot({})).snapshot!;
  assert.equal(after.version, before.version, "nothing changed, so the same snapshot keeps serving");
  assert.equal(after.contentHash, before.contentHash);
  assert.deepEqual(checkSnapshot(after), []);
  assert.deepEqual(await plane.admin.listRoutes({}), routesBefore);
  assert.deepEqual(await plane.admin.listNodes({}), nodesBefore);
  assert.deepEqual(await plane.admin.getCurrentModel({ route: "qwen3-32b" }), currentBefore);
  assert.deepEqual(
    after.routes.find((r) => r.name === "qwen3-32b")?.arms.map((a) => [a.variant, a.weight]),
    weights.route?.arms.map((a) => [a.variant, a.weight]),
  );
  assert.equal(plane.controlPlane.currentSnapshot().version, after.version);

  // Writes after the restart continue the version and honour revisions read before it.
  const stored = routesBefore.routes.find((r) => r.route?.name === "qwen3-32b")!;
  const sw = await plane.admin.switchModel({
    route: "qwen3-32b",
    variant: "small",
    expectedRevision: stored.revision,
    skipPrewarm: true,
  });
  assert.equal(sw.snapshotVersion, before.version + 1n);
  const current = await plane.admin.getCurrentModel({ route: "qwen3-32b" });
  assert.deepEqual([current.variant, current.sinceVersion], ["small", sw.snapshotVersion]);
  await plane.close();

  plane = await startPlane({ dir });
  const third = await plane.admin.getCurrentModel({ route: "qwen3-32b" });
  assert.deepEqual(
    [third.variant, third.sinceVersion, third.snapshotVersion],
    ["small", sw.snapshotVersion, sw.snapshotVersion],
    "since_version survives a restart",
  );
});

test("bootstrap: an empty store takes the config; an invalid bootstrap is rejected before anything is stored", async (t) => {
  const { state } = await loadConfigFile(fixture("seed-fixed.yaml"));
  const plane = await startPlane({ bootstrap: state });
  t.after(async () => {
    await plane.close();
    removeDir(plane.dir);
  });
  const snapshot = plane.controlPlane.currentSnapshot();
  assert.deepEqual(
    snapshot.routes.map((r) => [r.name, r.defaultVariant, r.arms.map((a) => a.weight)]),
    [["qwen3:32b", "qwen3-32b", [50, 50]]],
  );
  assert.equal(snapshot.settings?.firstByteTimeoutMs, 30000);

  const bad = {
    nodes: [],
    routes: [create(RouteSchema, { name: "x", variants: [{ name: "v", model: "m", nodes: ["ghost"] }] })],
  };
  await assert.rejects(startPlane({ bootstrap: bad }), /routes\[0\]\.variants\[0\]\.nodes\[0\]: node "ghost" does not exist/);
});
