import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toJson } from "@bufbuild/protobuf";
import { NodeSchema, RouteSchema, SettingsSchema, type RoutingSnapshot } from "../../gen/turnout/v1/routing_pb.js";
import { checkDesiredState, compileSnapshot } from "../../src/control/publish/compile.ts";
import type { DesiredState } from "../../src/control/state/desired-state.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { readCompileInput } from "./compile-case.ts";

const CASE = new URL("../testdata/compile/sorted-and-defaulted.in.json", import.meta.url);

/** The desired state and previous snapshot of the golden case "sorted-and-defaulted". */
function readInput(): { state: DesiredState; previous: RoutingSnapshot | undefined } {
  const input = readCompileInput(CASE);
  return { previous: input.previous, state: { nodes: input.nodes, routes: input.routes, settings: input.settings } };
}

test("compile is pure and deterministic: same input, same content hash; order of input does not matter", () => {
  const { state, previous } = readInput();
  const a = compileSnapshot(state, previous, new Date(1));
  const reversed: DesiredState = { ...state, nodes: [...state.nodes].reverse(), routes: [...state.routes].reverse() };
  const b = compileSnapshot(reversed, previous, new Date(2));
  assert.equal(a.contentHash, b.contentHash);
  assert.deepEqual(
    state.nodes.map((n) => n.id),
    ["gpu-2", "gpu-1"],
    "the input is not mutated",
  );
});

test("the first snapshot has version 1 and parent 0, with default settings", () => {
  const s = compileSnapshot({ nodes: [], routes: [] }, undefined, new Date(0));
  assert.equal(s.version, 1n);
  assert.equal(s.parentVersion, 0n);
  assert.deepEqual(toJson(SettingsSchema, s.settings!), {
    unitHeader: "x-turnout-user",
    connectTimeoutMs: 5000,
    firstByteTimeoutMs: 300000,
    idleTimeoutMs: 60000,
  });
  assert.deepEqual(checkSnapshot(s), []);
});

test("checkDesiredState reports problems with paths in the order given, not the sorted order", () => {
  const state: DesiredState = {
    nodes: [create(NodeSchema, { id: "b", baseUrl: "http://b" })],
    routes: [
      create(RouteSchema, { name: "z", defaultVariant: "v", variants: [{ name: "v", model: "m" }] }),
      create(RouteSchema, { name: "a", defaultVariant: "v", variants: [{ name: "v", model: "m", nodes: ["missing"] }] }),
    ],
  };
  assert.deepEqual(checkDesiredState(state), [
    { field: "routes[1].variants[0].nodes[0]", message: 'node "missing" does not exist' },
  ]);
});
