import { test } from "node:test";
import assert from "node:assert/strict";
import { create, equals, fromBinary } from "@bufbuild/protobuf";
import { OutcomeBatchSchema, OutcomeSchema } from "../../gen/turnout/v1/events_pb.js";
import { encodeOutcomeBatch } from "../../src/proxy/outcomes/outcome-record.ts";
import type { Outcome } from "../../src/proxy/outcome.ts";

const full: Outcome = {
  requestId: "req-1", snapshotVersion: 7, route: "qwen3-32b", variant: "canary", arm: "canary", armIndex: 1, unitHash: "", bucket: 4242,
  node: "gpu-2", status: "ok", httpStatus: 200, latencyMs: 812.25, ttftMs: 95.5, promptTokens: 17, completionTokens: 64, tokensPerSecond: 41.5,
} as Outcome;
const sparse: Outcome = { ...full, requestId: "req-2", variant: "", armIndex: undefined, bucket: undefined, node: "", status: "unavailable", httpStatus: 503, ttftMs: -1, promptTokens: 0, completionTokens: 0, tokensPerSecond: 0 } as Outcome;

test("the hand-written OutcomeBatch encoding decodes to exactly the messages the schema would build", () => {
  const at = [1_795_000_000_123.456, 1_795_000_001_000];
  const decoded = fromBinary(OutcomeBatchSchema, encodeOutcomeBatch("proxy-a", [full, sparse], at));
  assert.equal(decoded.proxy, "proxy-a");
  const want = [full, sparse].map((o, i) =>
    create(OutcomeSchema, {
      requestId: o.requestId, proxy: "proxy-a", snapshotVersion: BigInt(o.snapshotVersion), route: o.route, variant: o.variant,
      arm: o.armIndex ?? -1, unitHash: o.bucket ?? -1, node: o.node, status: o.status, httpStatus: o.httpStatus, latencyMs: o.latencyMs,
      ttftMs: o.ttftMs, promptTokens: o.promptTokens, completionTokens: o.completionTokens, tokensPerSecond: o.tokensPerSecond,
      finishedAt: { seconds: BigInt(Math.floor(at[i] / 1000)), nanos: Math.round((at[i] % 1000) * 1e6) },
    }),
  );
  assert.equal(decoded.outcomes.length, 2);
  for (let i = 0; i < 2; i++) assert.ok(equals(OutcomeSchema, decoded.outcomes[i], want[i]), `outcome ${i} round-trips`);
  assert.equal(decoded.outcomes[1].arm, -1);
  assert.equal(decoded.outcomes[1].unitHash, -1);
});

test("an outcome counted in an experiment carries its id, phase and arm; one outside carries none", () => {
  const inside = { ...full, experiment: "exp-1", experimentPhase: 2, armIndex: 0 } as Outcome;
  const [a, b] = fromBinary(OutcomeBatchSchema, encodeOutcomeBatch("p", [inside, full], [1, 2])).outcomes;
  assert.deepEqual([a.experiment, a.experimentPhase, a.experimentArm], ["exp-1", 2, 0]);
  assert.deepEqual([b.experiment, b.experimentPhase, b.experimentArm], ["", 0, 0]);
});
