import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { NodeSchema, RouteSchema, RoutingSnapshotSchema, SettingsSchema } from "../../gen/turnout/v1/routing_pb.js";
import { checkDesiredState, compileSnapshot } from "../../src/control/publish/compile.ts";
import type { DesiredState } from "../../src/control/state/desired-state.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);

interface Input {
  previous: JsonValue;
  state: { nodes: JsonValue[]; routes: JsonValue[]; settings?: JsonValue };
}

function readInput(): { state: DesiredState; previous: ReturnType<typeof fromJson<typeof RoutingSnapshotSchema>> } {
  const input = JSON.parse(fs.readFileSync(fixture("compile-input.json"), "utf8")) as Input;
  return {
    previous: fromJson(RoutingSnapshotSchema, input.previous),
    state: {
      nodes: input.state.nodes.map((n) => fromJson(NodeSchema, n)),
      routes: input.state.routes.map((r) => fromJson(RouteSchema, r)),
      settings: input.state.settings === undefined ? undefined : fromJson(SettingsSchema, input.state.settings),
    },
  };
}

test("compile turns desired state into the golden snapshot: sorted, defaulted, versioned, hashed", () => {
  const { state, previous } = readInput();
  const now = new Date("2026-01-02T03:04:05.678Z");
  const snapshot = compileSnapshot(state, previous, now);
  assert.deepEqual(checkSnapshot(snapshot), []);
  const json = toJson(RoutingSnapshotSchema, snapshot) as { createdAt?: string };
  assert.equal(json.createdAt, "2026-01-02T03:04:05.678Z");
  json.createdAt = "<normalised>";
  const golden = fixture("compile-expected.json");
  if (process.env.UPDATE_GOLDEN) fs.writeFileSync(golden, JSON.stringify(json, null, 2) + "\n");
  assert.deepEqual(json, JSON.parse(fs.readFileSync(golden, "utf8")));
});

test("compile is pure and deterministic: same input, same content hash; order of input does not matter", () => {
  const { state, previous } = readInput();
  const a = compileSnapshot(state, previous, new Date(1));
  const reversed: DesiredState = { ...state, nodes: [...state.nodes].reverse(), routes: [...state.routes].reverse() };
  const b = compileSnapshot(reversed, previous, new Date(2));
  assert.equal(a.contentHash, b.contentHash);
  assert.deepEqual(state.nodes.map((n) => n.id), ["gpu-2", "gpu-1"], "the input is not mutated");
});

test("the first snapshot has version 1 and parent 0, with default settings", () => {
  const s = compileSnapshot({ nodes: [], routes: [] }, undefined, new Date(0));
  assert.equal(s.version, 1n);
  assert.equal(s.parentVersion, 0n);
  assert.deepEqual(toJson(SettingsSchema, s.settings!), { unitHeader: "x-turnout-user", connectTimeoutMs: 5000, firstByteTimeoutMs: 300000, idleTimeoutMs: 60000 });
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
  assert.deepEqual(checkDesiredState(state), [{ field: "routes[1].variants[0].nodes[0]", message: 'node "missing" does not exist' }]);
});
