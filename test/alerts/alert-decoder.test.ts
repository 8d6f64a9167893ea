import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { NodeHealthChangedSchema } from "../../gen/turnout/v1/events_pb.js";
import { GateVerdict, RolloutEventSchema } from "../../gen/turnout/v1/rollout_pb.js";
import { decodeNodeHealth, decodeRolloutEvent } from "../../src/control/alerts/alert-decoder.ts";

const encoder = new TextEncoder();
const at = timestampFromMs(Date.parse("2026-12-01T18:00:00Z"));

test("a NodeHealthChanged in plain proto3 JSON (healthy false left out) decodes as a node going down", () => {
  const json = toJsonString(
    NodeHealthChangedSchema,
    create(NodeHealthChangedSchema, { proxy: "p1", node: "gpu-2", healthy: false, reason: "refused", at }),
  );
  assert.ok(!json.includes("healthy"), json);
  const event = decodeNodeHealth(encoder.encode(json), 0);
  assert.ok(event !== "malformed");
  assert.equal(event.healthy, false);
  assert.equal(event.node, "gpu-2");
  assert.equal(event.at, "2026-12-01T18:00:00Z");
});

test("a rolled_back RolloutEvent reports the evaluated step's canary percent, not the 0 left after the rollback", () => {
  const event = create(RolloutEventSchema, {
    rolloutId: "r-1",
    route: "chat",
    fromVariant: "stable",
    toVariant: "canary",
    kind: "rolled_back",
    reason: "error_rate: error rate 0.09 > 0.05 over 45 requests",
    step: 1,
    canaryPercent: 0,
    at,
    evaluation: { step: 1, canaryPercent: 20, verdict: GateVerdict.FAIL },
  });
  const alert = decodeRolloutEvent(encoder.encode(toJsonString(RolloutEventSchema, event)), 0);
  assert.ok(typeof alert !== "string");
  assert.equal(alert.details.canaryPercent, 20);
  assert.equal(alert.details.step, 1);
  assert.equal(
    alert.text,
    "Route chat rolled back from canary at 20% to stable: error_rate: error rate 0.09 > 0.05 over 45 requests",
  );

  // Without an evaluation the percent is unknown: left out rather than "at 0%".
  const bare = decodeRolloutEvent(
    encoder.encode(toJsonString(RolloutEventSchema, create(RolloutEventSchema, { ...event, evaluation: undefined }))),
    0,
  );
  assert.ok(typeof bare !== "string");
  assert.equal(bare.details.canaryPercent, undefined);
  assert.equal(bare.text, "Route chat rolled back from canary to stable: error_rate: error rate 0.09 > 0.05 over 45 requests");
});
