import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  GateVerdict,
  RolloutGatesSchema,
  RolloutPhase,
  RolloutState,
  StartRolloutRequestSchema,
  type Rollout,
} from "../../gen/turnout/v1/rollout_pb.js";
import { RouteSchema } from "../../gen/turnout/v1/routing_pb.js";
import { evaluateGates, variantSample } from "../../src/control/rollout/gates.ts";
import {
  aborted,
  completed,
  converged,
  dwellLeftMs,
  evaluated,
  paused,
  resumed,
  rolledBack,
  startRollout,
  stepApplied,
  warmed,
  windowsAt,
} from "../../src/control/rollout/rollout-machine.ts";
import { requestProblems, rolloutSpec } from "../../src/control/rollout/rollout-spec.ts";
import type { SeriesStats } from "../../src/control/metrics/outcome-aggregator.ts";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const gates = create(RolloutGatesSchema, { maxErrorRate: 0.05, minSamples: 20, failureLimit: 2 });
const spec = { id: "r-1", route: "chat", from: "stable", to: "canary", steps: [10, 50, 100], intervalMs: 2000, gates };

function series(variant: string, requests: number, errors: number, extra: Partial<SeriesStats> = {}): SeriesStats {
  const lat = { p50: 10, p95: 20, p99: 30, mean: 12, count: requests };
  return {
    route: "chat",
    variant,
    requests,
    requestsPerSecond: requests,
    errors: errors ? { upstream_status: errors } : {},
    latencyMs: lat,
    ttftMs: lat,
    tokensPerSecond: 50,
    completionTokens: requests * 10,
    ...extra,
  };
}

function report(r: Rollout, canary: SeriesStats | undefined, stable: SeriesStats | undefined, at: number) {
  const c = variantSample("canary", canary);
  const s = variantSample("stable", stable);
  return evaluateGates({
    gates: r.gates,
    canary: c,
    stable: s,
    canarySinceStart: c,
    stableSinceStart: s,
    step: r.step,
    canaryPercent: r.canaryPercent,
    windowSeconds: 2,
    relativeWindowSeconds: 2,
    atMs: at,
  });
}

/** Runs a rollout up to the dwell of its first step. */
function dwelling(): Rollout {
  let r = startRollout(spec, T0).rollout;
  r = warmed(r, T0 + 10).rollout;
  r = stepApplied(r, 7n, T0 + 20).rollout;
  return converged(r, undefined, T0 + 30).rollout;
}

test("a rollout warms, applies step 1, and dwells for the interval once its snapshot converged", () => {
  const start = startRollout(spec, T0);
  assert.equal(start.rollout.state, RolloutState.RUNNING);
  assert.equal(start.rollout.phase, RolloutPhase.WARMING);
  assert.deepEqual(
    start.events.map((e) => e.kind),
    ["started"],
  );
  const applied = stepApplied(warmed(start.rollout, T0 + 10).rollout, 7n, T0 + 20);
  assert.equal(applied.rollout.step, 1);
  assert.equal(applied.rollout.canaryPercent, 10);
  assert.equal(applied.rollout.phase, RolloutPhase.CONVERGING);
  assert.deepEqual(
    applied.events.map((e) => [e.kind, e.canaryPercent, e.snapshotVersion]),
    [["step", 10, 7n]],
  );
  const r = converged(applied.rollout, undefined, T0 + 30).rollout;
  assert.equal(r.phase, RolloutPhase.DWELLING);
  assert.equal(timestampMs(r.dwellEndsAt!), T0 + 30 + 2000);
  assert.equal(dwellLeftMs(r, T0 + 1030), 1000, "a restarted control plane waits only what is left");
  assert.deepEqual(
    windowsAt(r, T0 + 2030),
    { stepSeconds: 3, sinceStartSeconds: 3 },
    "whole seconds from the one the dwell started in",
  );
});

test("passing gates advance to the next step; the last step completes", () => {
  const r = dwelling();
  const next = evaluated(r, report(r, series("canary", 40, 0), series("stable", 360, 0), T0 + 2030), T0 + 2030);
  assert.equal(next.verdict, "advance");
  assert.equal(next.rollout.step, 2);
  assert.equal(next.rollout.phase, RolloutPhase.APPLYING);
  const done = completed(next.rollout, 9n, T0 + 3000, false);
  assert.equal(done.rollout.state, RolloutState.COMPLETED);
  assert.equal(done.rollout.canaryPercent, 100);
  assert.deepEqual(
    done.events.map((e) => e.kind),
    ["completed"],
  );
});

test("too few canary requests hold the step and record one 'held' decision per step", () => {
  const r = dwelling();
  const held = evaluated(r, report(r, series("canary", 5, 0), series("stable", 300, 0), T0 + 2030), T0 + 2030);
  assert.equal(held.verdict, "hold");
  assert.equal(held.rollout.step, 1);
  assert.equal(timestampMs(held.rollout.dwellEndsAt!), T0 + 2030 + 2000, "dwells another interval");
  assert.deepEqual(
    held.events.map((e) => e.kind),
    ["held"],
  );
  const again = evaluated(
    held.rollout,
    report(held.rollout, series("canary", 8, 0), series("stable", 300, 0), T0 + 4030),
    T0 + 4030,
  );
  assert.equal(again.verdict, "hold");
  assert.deepEqual(again.events, [], "a second hold in a row is not recorded again");
});

test("a failed gate below the failure limit holds the step; reaching the limit rolls back with the numbers", () => {
  const r = dwelling();
  const first = evaluated(r, report(r, series("canary", 40, 4), series("stable", 40, 0), T0 + 2030), T0 + 2030);
  assert.equal(first.verdict, "retry");
  assert.equal(first.rollout.failures, 1);
  assert.match(first.events[0].reason, /error_rate: error rate 0.1 > 0.05 over 40 requests \(failure 1 of 2; holding the step\)/);
  const second = evaluated(
    first.rollout,
    report(first.rollout, series("canary", 40, 5), series("stable", 40, 0), T0 + 4030),
    T0 + 4030,
  );
  assert.equal(second.verdict, "rollback");
  assert.equal(second.events[0].kind, "gate_failed");
  assert.equal(second.events[0].evaluation?.verdict, GateVerdict.FAIL);
  const back = rolledBack(second.rollout, 11n, T0 + 4100);
  assert.equal(back.rollout.state, RolloutState.ROLLED_BACK);
  assert.equal(back.rollout.canaryPercent, 0);
  assert.deepEqual(
    back.events.map((e) => [e.kind, e.snapshotVersion]),
    [["rolled_back", 11n]],
  );
  assert.match(back.events[0].reason, /error rate 0.125 > 0.05 over 40 requests/);
});

test("the relative gate rolls back at once, whatever the failure limit", () => {
  const r = { ...dwelling(), gates: create(RolloutGatesSchema, { failureLimit: 5, minSamples: 20 }) };
  const t = evaluated(r, report(r, series("canary", 400, 40), series("stable", 1600, 0), T0 + 2030), T0 + 2030);
  assert.equal(t.verdict, "rollback");
  const rel = t.rollout.lastEvaluation!.results.find((x) => x.gate === "relative_error_rate")!;
  assert.equal(rel.verdict, GateVerdict.FAIL);
  assert.ok(rel.lowerBound > 0);
});

test("client disconnects are not counted as the canary's errors", () => {
  const s = variantSample("canary", series("canary", 50, 0, { errors: { client_gone: 10, upstream_failed: 2 } }));
  assert.deepEqual([s.requests, s.errors, s.errorRate], [40n, 2n, 0.05]);
});

test("absolute latency and throughput gates judge the canary's p99 time to first token and tokens/s", () => {
  const r = {
    ...dwelling(),
    gates: create(RolloutGatesSchema, { maxP99TtftMs: 25, minTokensPerSecond: 60, minSamples: 10, disableRelative: true }),
  };
  const rep = report(r, series("canary", 40, 0), series("stable", 40, 0), T0 + 2030);
  assert.deepEqual(
    rep.results.map((x) => [x.gate, x.verdict]),
    [
      ["p99_ttft_ms", GateVerdict.FAIL],
      ["tokens_per_second", GateVerdict.FAIL],
    ],
  );
});

test("pause keeps the remaining dwell and resume continues with it", () => {
  const r = dwelling(); // dwell ends at T0 + 2030
  const p = paused(r, T0 + 1530);
  assert.equal(p.rollout.state, RolloutState.PAUSED);
  assert.equal(p.rollout.remainingMs, 500);
  const q = resumed(p.rollout, T0 + 60_000);
  assert.equal(q.rollout.state, RolloutState.RUNNING);
  assert.equal(timestampMs(q.rollout.dwellEndsAt!), T0 + 60_500);
  assert.deepEqual(
    [...p.events, ...q.events].map((e) => e.kind),
    ["paused", "resumed"],
  );
});

test("abort ends the rollout with the operator's reason", () => {
  const a = aborted(dwelling(), "bad vibes", 12n, T0 + 100);
  assert.equal(a.rollout.state, RolloutState.ABORTED);
  assert.deepEqual(
    a.events.map((e) => [e.kind, e.reason, e.canaryPercent]),
    [["aborted", "bad vibes", 0]],
  );
});

test("start requests are checked field by field, and against the route", () => {
  const bad = create(StartRolloutRequestSchema, {
    route: "chat",
    to: "",
    steps: [5, 5, 50],
    intervalMs: 10,
    gates: { maxErrorRate: 2 },
  });
  assert.deepEqual(
    requestProblems(bad).map((p) => p.field),
    ["to", "steps[1]", "steps", "interval_ms", "gates.max_error_rate"],
  );
  const route = {
    value: create(RouteSchema, {
      name: "chat",
      defaultVariant: "stable",
      variants: [
        { name: "stable", model: "m" },
        { name: "canary", model: "m" },
      ],
    }),
    revision: 4,
  };
  assert.throws(
    () => rolloutSpec(create(StartRolloutRequestSchema, { route: "chat", to: "nope" }), route, "r-2"),
    /to: "nope" is not a variant of route "chat"/,
  );
  assert.throws(
    () => rolloutSpec(create(StartRolloutRequestSchema, { route: "chat", from: "canary", to: "stable" }), route, "r-2"),
    /does not serve route "chat" now/,
  );
  assert.throws(
    () => rolloutSpec(create(StartRolloutRequestSchema, { route: "chat", to: "canary", expectedRevision: 3n }), route, "r-2"),
    /expected revision 3, but its revision is 4/,
  );
  const ok = rolloutSpec(create(StartRolloutRequestSchema, { route: "chat", to: "canary" }), route, "r-2");
  assert.deepEqual([ok.from, ok.steps, ok.intervalMs], ["stable", [1, 5, 10, 25, 50, 100], 60000]);
});
