import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { RolloutPhase, RolloutState } from "../../gen/turnout/v1/rollout_pb.js";
import { startRolloutGateway } from "./rollout-harness.ts";
import { until } from "../support/until.ts";

async function rejects(p: Promise<unknown>, code: Code, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ConnectError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test("operators pause, resume and abort a rollout; abort returns the canary's buckets to stable", async (t) => {
  let warmed: string[] = [];
  const gw = await startRolloutGateway({
    rollouts: { warm: async (route, variant) => void (warmed = [...warmed, `${route}/${variant}`]) },
  });
  t.after(() => gw.close());
  const { rollout } = await gw.rollouts.startRollout({ route: "chat", to: "canary", steps: [25, 100], intervalMs: 60_000 });
  const id = rollout!.id;
  assert.match(id, /^r-[a-z0-9]+-[0-9a-f]{6}$/);
  await until("step 1 dwelling", async () => (await gw.rollouts.getRollout({ id })).rollout!.phase === RolloutPhase.DWELLING);
  assert.deepEqual(warmed, ["chat/canary"], "the canary was pre-warmed before the first step");
  const arms = (await gw.admin.getRoute({ name: "chat" })).route!.route!.arms;
  assert.deepEqual(
    arms.map((a) => [a.variant, a.weight]),
    [
      ["stable", 75],
      ["canary", 25],
    ],
  );

  // One active rollout per route.
  await rejects(
    gw.rollouts.startRollout({ route: "chat", to: "canary" }),
    Code.FailedPrecondition,
    /route "chat" already has an active rollout \(r-/,
  );

  const p = (await gw.rollouts.pauseRollout({ id })).rollout!;
  assert.equal(p.state, RolloutState.PAUSED);
  assert.ok(p.remainingMs > 50_000 && p.remainingMs <= 60_000, String(p.remainingMs));
  const r = (await gw.rollouts.resumeRollout({ id })).rollout!;
  assert.equal(r.state, RolloutState.RUNNING);
  await rejects(gw.rollouts.resumeRollout({ id }), Code.FailedPrecondition, /is not paused/);

  const a = (await gw.rollouts.abortRollout({ id, reason: "looks wrong" })).rollout!;
  assert.equal(a.state, RolloutState.ABORTED);
  assert.equal(a.reason, "looks wrong");
  const after = (await gw.admin.getRoute({ name: "chat" })).route!.route!.arms;
  assert.deepEqual(
    after.map((x) => [x.variant, x.weight]),
    [
      ["stable", 100],
      ["canary", 0],
    ],
  );
  const { entries } = await gw.rollouts.getAuditLog({ rolloutId: id });
  assert.deepEqual(
    entries.map((e) => e.kind),
    ["started", "step", "paused", "resumed", "aborted"],
  );
  await rejects(gw.rollouts.pauseRollout({ id }), Code.FailedPrecondition, /has already ended \(aborted: looks wrong\)/);

  // The route is free again; a promote jumps to 100 %.
  const second = (await gw.rollouts.startRollout({ route: "chat", to: "canary", steps: [10, 100], intervalMs: 60_000 })).rollout!;
  await until(
    "the second rollout dwelling",
    async () => (await gw.rollouts.getRollout({ id: second.id })).rollout!.phase === RolloutPhase.DWELLING,
  );
  const promoted = (await gw.rollouts.promoteRollout({ id: second.id })).rollout!;
  assert.equal(promoted.state, RolloutState.COMPLETED);
  const current = await gw.admin.getCurrentModel({ route: "chat" });
  assert.deepEqual([current.variant, current.arms.length], ["canary", 0]);
  const list = await gw.rollouts.listRollouts({ route: "chat" });
  assert.deepEqual(
    list.rollouts.map((x) => x.id),
    [second.id, id],
    "newest first",
  );
  assert.deepEqual((await gw.rollouts.listRollouts({ activeOnly: true })).rollouts, []);
  const audit = await gw.rollouts.getAuditLog({ rolloutId: second.id });
  assert.deepEqual(
    audit.entries.map((e) => e.kind),
    ["started", "step", "promoted"],
  );
});

test("bad start requests are refused naming the field, and nothing is started", async (t) => {
  const gw = await startRolloutGateway();
  t.after(() => gw.close());
  await rejects(
    gw.rollouts.startRollout({ route: "chat", to: "canary", steps: [10, 5, 90] }),
    Code.InvalidArgument,
    /steps\[1\]: must be greater than the step before it \(10\), got 5; steps: must end at 100, got 90/,
  );
  await rejects(
    gw.rollouts.startRollout({ route: "chat", to: "nope" }),
    Code.InvalidArgument,
    /^\[invalid_argument\] to: "nope" is not a variant of route "chat" \(variants: stable, canary\)$/,
  );
  await rejects(gw.rollouts.startRollout({ route: "nope", to: "canary" }), Code.NotFound, /route "nope" does not exist/);
  await rejects(
    gw.rollouts.startRollout({ route: "chat", to: "canary", gates: { maxErrorRate: 1.5 } }),
    Code.InvalidArgument,
    /gates.max_error_rate: must be between 0 and 1, got 1.5/,
  );
  await rejects(
    gw.rollouts.startRollout({ route: "chat", to: "canary", expectedRevision: 999n }),
    Code.Aborted,
    /expected revision 999/,
  );
  await rejects(gw.rollouts.getRollout({ id: "a.b" }), Code.InvalidArgument, /id: "a.b" is not a rollout id/);
  await rejects(gw.rollouts.getRollout({ id: "r-none" }), Code.NotFound, /rollout "r-none" does not exist/);
  assert.deepEqual((await gw.rollouts.listRollouts({})).rollouts, []);
});

test("a canary that cannot be pre-warmed is aborted before any traffic moves", async (t) => {
  const gw = await startRolloutGateway({
    rollouts: {
      warm: async () => {
        throw new Error("node n-canary could not load qwen3:8b");
      },
    },
  });
  t.after(() => gw.close());
  const before = (await gw.admin.getSnapshot({})).snapshot!.version;
  const { rollout } = await gw.rollouts.startRollout({ route: "chat", to: "canary", steps: [10, 100], intervalMs: 1000 });
  const r = await until("the rollout to end", async () => {
    const x = (await gw.rollouts.getRollout({ id: rollout!.id })).rollout!;
    return x.state === RolloutState.ABORTED ? x : undefined;
  });
  assert.match(r.reason, /pre-warm of canary failed, no traffic moved: node n-canary could not load qwen3:8b/);
  assert.equal((await gw.admin.getSnapshot({})).snapshot!.version, before, "no snapshot was published");
});

test("the rollout engine's store errors are counted in turnout_control_store_errors_total (a route claim lost to the active rollout)", async (t) => {
  const gw = await startRolloutGateway({ rollouts: { warm: async () => {} } });
  t.after(() => gw.close());
  const lostClaims = () => {
    const m = /^turnout_control_store_errors_total\{operation="put",code="aborted"\} (\d+)$/m.exec(
      gw.controlPlane.metrics.prometheusText(),
    );
    return m === null ? 0 : Number(m[1]);
  };
  const { rollout } = await gw.rollouts.startRollout({ route: "chat", to: "canary", steps: [25, 100], intervalMs: 60_000 });
  await until(
    "step 1 dwelling",
    async () => (await gw.rollouts.getRollout({ id: rollout!.id })).rollout!.phase === RolloutPhase.DWELLING,
  );
  const before = lostClaims();
  // The second start's claim of the route is a compare-and-swap "must not exist" that the store refuses.
  await rejects(
    gw.rollouts.startRollout({ route: "chat", to: "canary" }),
    Code.FailedPrecondition,
    /already has an active rollout/,
  );
  assert.equal(lostClaims(), before + 1);
});
