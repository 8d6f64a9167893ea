import { test } from "node:test";
import assert from "node:assert/strict";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { GateVerdict, RolloutPhase, RolloutState, type Rollout } from "../../gen/turnout/v1/rollout_pb.js";
import { SUBJECTS } from "../../src/transport/types.ts";
import { startLoad, startRolloutGateway } from "./rollout-harness.ts";
import { until } from "../support/until.ts";

const decoder = new TextDecoder();

/** Collects the RolloutEvents published on the bus (raw JSON objects). */
function collectEvents(gw: Awaited<ReturnType<typeof startRolloutGateway>>, signal: AbortSignal): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  void (async () => {
    for await (const m of gw.transport.bus.subscribe(SUBJECTS.rolloutEvents, signal))
      events.push(JSON.parse(decoder.decode(m.data)) as Record<string, unknown>);
  })();
  return events;
}

async function ended(gw: Awaited<ReturnType<typeof startRolloutGateway>>, id: string, timeoutMs = 15_000): Promise<Rollout> {
  return until(
    `rollout ${id} to end`,
    async () => {
      const r = (await gw.rollouts.getRollout({ id })).rollout!;
      if (r.state !== RolloutState.COMPLETED && r.state !== RolloutState.ROLLED_BACK && r.state !== RolloutState.ABORTED)
        return undefined;
      // the driver appends the decision to the audit log right after storing the record
      const { entries } = await gw.rollouts.getAuditLog({ rolloutId: id });
      return ["completed", "rolled_back", "aborted", "promoted"].includes(entries.at(-1)?.kind ?? "") ? r : undefined;
    },
    { timeoutMs },
  );
}

test("a canary failing 10% of requests is rolled back automatically within 3 intervals, with an audit trail and events", async (t) => {
  const gw = await startRolloutGateway({ canaryErrorRate: 0.1 });
  const events = new AbortController();
  const published = collectEvents(gw, events.signal);
  const load = startLoad(gw.proxyUrl);
  t.after(async () => {
    events.abort();
    await load.stop();
    await gw.close();
  });
  await until("traffic on stable", async () => (load.counts.get("stable 200") ?? 0) > 50);

  const intervalMs = 1500;
  const { rollout } = await gw.rollouts.startRollout({
    route: "chat",
    to: "canary",
    steps: [20, 50, 100],
    intervalMs,
    gates: { maxErrorRate: 0.05, minSamples: 20 },
  });
  const r = await ended(gw, rollout!.id);
  assert.equal(r.state, RolloutState.ROLLED_BACK, r.reason);

  const { entries } = await gw.rollouts.getAuditLog({ rolloutId: r.id });
  const kinds = entries.map((e) => e.kind);
  assert.equal(kinds[0], "started");
  assert.equal(kinds.at(-1), "rolled_back");
  assert.ok(kinds.includes("gate_failed"));
  const firstStep = entries.find((e) => e.kind === "step")!;
  const back = entries.at(-1)!;
  const evaluations = entries.filter((e) => e.evaluation !== undefined && e.kind !== "step" && e.kind !== "rolled_back").length;
  assert.ok(evaluations <= 3, `rolled back after ${evaluations} evaluations: ${kinds.join(", ")}`);
  // Within 3 intervals of the first step (plus fleet convergence and the proxies' 200 ms outcome batches).
  const took = timestampMs(back.at!) - timestampMs(firstStep.at!);
  assert.ok(took < 3 * intervalMs + 1500, `took ${took} ms`);
  t.diagnostic(`rolled back ${took} ms after the first step, after ${evaluations} evaluation(s): ${back.reason}`);
  // The decision carries its numbers.
  const failed = back.evaluation!.results.filter((x) => x.verdict === GateVerdict.FAIL);
  assert.ok(failed.length > 0, back.reason);
  for (const gate of failed) {
    if (gate.gate === "error_rate") assert.ok(gate.observed > 0.05, gate.detail);
    else assert.ok(gate.gate === "relative_error_rate" && gate.lowerBound > 0, gate.detail);
  }
  assert.ok(back.evaluation!.canary!.requests >= 20n);
  assert.match(back.reason, /error/);

  // Canary buckets are back on stable: arms stable 100, canary 0; every new user gets stable.
  const route = (await gw.admin.getRoute({ name: "chat" })).route!.route!;
  assert.deepEqual(
    route.arms.map((a) => [a.variant, a.weight]),
    [
      ["stable", 100],
      ["canary", 0],
    ],
  );
  const before = load.counts.get("canary 200") ?? 0;
  await until("more stable traffic after the rollback", async () => (load.counts.get("stable 200") ?? 0) > 200);
  await load.settled(); // answers in flight at the rollback finish
  const settled = (load.counts.get("canary 200") ?? 0) + (load.counts.get("canary 500") ?? 0);
  await until("another 100 stable answers", async () => (load.counts.get("stable 200") ?? 0) > 300);
  assert.equal(
    (load.counts.get("canary 200") ?? 0) + (load.counts.get("canary 500") ?? 0),
    settled,
    "no new canary answers after the rollback",
  );
  assert.ok(before > 0);

  // The bus carried the decisions, with the agreed field names.
  await until("the rolled_back event on the bus", async () => published.some((e) => e.kind === "rolled_back"));
  const rb = published.find((e) => e.kind === "rolled_back")!;
  assert.equal(rb.rolloutId, r.id);
  assert.equal(rb.route, "chat");
  assert.equal(rb.fromVariant, "stable");
  assert.equal(rb.toVariant, "canary");
  assert.equal(typeof rb.reason, "string");
  assert.equal(typeof rb.at, "string");
  assert.ok(published.some((e) => e.kind === "started") && published.some((e) => e.kind === "gate_failed"));
  assert.ok(!published.some((e) => e.kind === "held"), "holds stay in the audit log");
});

test("a healthy canary reaches 100 % and becomes the route's default variant", async (t) => {
  const gw = await startRolloutGateway();
  const load = startLoad(gw.proxyUrl);
  t.after(async () => {
    await load.stop();
    await gw.close();
  });
  await until("traffic on stable", async () => (load.counts.get("stable 200") ?? 0) > 50);
  const { rollout } = await gw.rollouts.startRollout({
    route: "chat",
    to: "canary",
    steps: [20, 50, 100],
    intervalMs: 1000,
    gates: { maxErrorRate: 0.05, minSamples: 20 },
  });
  const r = await ended(gw, rollout!.id);
  assert.equal(r.state, RolloutState.COMPLETED, r.reason);
  const current = await gw.admin.getCurrentModel({ route: "chat" });
  assert.equal(current.variant, "canary");
  assert.deepEqual(current.arms, []);
  const { entries } = await gw.rollouts.getAuditLog({ rolloutId: r.id });
  assert.deepEqual(
    entries.filter((e) => e.kind !== "held").map((e) => [e.kind, e.canaryPercent]),
    [
      ["started", 0],
      ["step", 20],
      ["step", 50],
      ["completed", 100],
    ],
  );
  assert.ok(
    entries.slice(2).every((e) => e.kind !== "step" || e.evaluation?.verdict === 1),
    "each step after the first follows a passing evaluation",
  );
  assert.deepEqual(
    entries.map((e) => e.seq),
    entries.map((_, i) => i + 1),
  );
  const all = await gw.rollouts.listAudit({ route: "chat" });
  assert.deepEqual(
    all.entries.map((e) => e.seq),
    entries.map((e) => e.seq),
  );
  await until("canary traffic", async () => (load.counts.get("canary 200") ?? 0) > 100);
});

test("a control plane restarted mid-rollout resumes the rollout at the step it was on", async (t) => {
  const gw = await startRolloutGateway();
  const load = startLoad(gw.proxyUrl);
  t.after(async () => {
    await load.stop();
    await gw.close();
  });
  const intervalMs = 3000;
  const { rollout } = await gw.rollouts.startRollout({
    route: "chat",
    to: "canary",
    steps: [10, 40, 100],
    intervalMs,
    gates: { maxErrorRate: 0.05, minSamples: 10 },
  });
  const id = rollout!.id;
  const before = await until("step 2 dwelling", async () => {
    const r = (await gw.rollouts.getRollout({ id })).rollout!;
    return r.step === 2 && r.phase === RolloutPhase.DWELLING ? r : undefined;
  });
  await gw.restartControl();
  const after = (await gw.rollouts.getRollout({ id })).rollout!;
  assert.equal(after.step, 2);
  assert.equal(after.canaryPercent, 40);
  assert.equal(after.phase, RolloutPhase.DWELLING);
  assert.equal(
    timestampMs(after.dwellEndsAt!),
    timestampMs(before.dwellEndsAt!),
    "the dwell keeps its end: only the remaining time is waited",
  );
  const arms = (await gw.admin.getRoute({ name: "chat" })).route!.route!.arms;
  assert.deepEqual(
    arms.map((a) => [a.variant, a.weight]),
    [
      ["stable", 60],
      ["canary", 40],
    ],
  );

  const r = await ended(gw, id);
  assert.equal(r.state, RolloutState.COMPLETED, r.reason);
  const { entries } = await gw.rollouts.getAuditLog({ rolloutId: id });
  assert.deepEqual(
    entries.filter((e) => e.kind !== "held").map((e) => [e.kind, e.step]),
    [
      ["started", 0],
      ["step", 1],
      ["step", 2],
      ["completed", 3],
    ],
    "no step applied twice",
  );
  // The step-2 evaluation after the restart came at the stored dwell end, not a full interval after the restart.
  const completedAt = timestampMs(entries.at(-1)!.at!);
  assert.ok(
    completedAt - timestampMs(before.dwellEndsAt!) < intervalMs,
    `completed ${completedAt - timestampMs(before.dwellEndsAt!)} ms after the dwell end`,
  );
});
