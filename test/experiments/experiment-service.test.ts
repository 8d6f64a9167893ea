import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ExperimentService, ExperimentStatus } from "../../gen/turnout/v1/experiment_pb.js";
import { bucketTable } from "../../src/assign/allocate.ts";
import { bucketOf } from "../../src/assign/hash.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { removeDir, startPlane, type Plane } from "../control/admin-harness.ts";
import { experimentState } from "./experiment-fixtures.ts";
import { until } from "../support/until.ts";

const planes: Plane[] = [];
async function plane(dir?: string) {
  const p = await startPlane({ dir, bootstrap: experimentState() });
  planes.push(p);
  const client = createClient(ExperimentService, createConnectTransport({ baseUrl: p.server.url, httpVersion: "1.1" }));
  return { p, client };
}
after(async () => {
  for (const p of planes) await p.close().catch(() => {});
  for (const p of planes) removeDir(p.dir);
});

async function refusal(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail("expected the call to fail");
}

describe("ExperimentService", () => {
  test("Create refuses a bad experiment with every problem named by field and stores nothing", async () => {
    const { client } = await plane();
    const err = await refusal(
      client.create({
        name: "",
        route: "chat",
        arms: [
          { name: "a", weight: 50 },
          { name: "zz", weight: -1 },
        ],
        duration: "tomorrow",
        metrics: ["ok", "bad metric"],
        targeting: { attr: "visits", gte: "2" },
      }),
    );
    assert.equal(err.code, Code.InvalidArgument);
    for (const part of [
      "name: must not be empty",
      "arms[1].weight: must be a non-negative number",
      'arms[1].name: "zz" is not a variant of route "chat"',
      'duration: "tomorrow" is not a duration',
      "metrics[1]:",
      "targeting.gte: must be a number",
    ]) {
      assert.ok(err.rawMessage.includes(part), `${part} in ${err.rawMessage}`);
    }
    const one = await refusal(client.create({ name: "x", route: "chat", arms: [{ name: "a", weight: 1 }], duration: "24h" }));
    assert.match(one.rawMessage, /arms: must have at least two arms/);
    assert.equal((await client.list({})).experiments.length, 0);
  });

  test("the seed's JSON body creates a DRAFT experiment on the route that has its variants", async () => {
    const { p } = await plane();
    const res = await fetch(`${p.server.url}/turnout.v1.ExperimentService/Create`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: "Bigger model",
        arms: [
          { name: "x", weight: 50 },
          { name: "y", weight: 50 },
        ],
        duration: "24h",
        metrics: ["response_time", "accuracy"],
      }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { experiment: Record<string, unknown> };
    assert.equal(body.experiment.route, "other");
    assert.equal(body.experiment.status, "EXPERIMENT_STATUS_DRAFT");
    assert.match(String(body.experiment.id), /^bigger-model-[0-9a-f]{4}$/);
    assert.deepEqual(body.experiment.metrics, ["response_time", "accuracy"]);
    assert.equal(body.experiment.primaryMetric, "response_time");
    assert.deepEqual(body.experiment.arms, [
      { name: "x", variant: "x", weight: 50 },
      { name: "y", variant: "y", weight: 50 },
    ]);
  });

  test("Create takes feedback metrics with ranges (unset bounds are ±1e9) and refuses bad names, duplicates, bounds beyond ±1e12 and min above max", async () => {
    const { p, client } = await plane();
    const arms = [
      { name: "a", weight: 50 },
      { name: "b", weight: 50 },
    ];
    const err = await refusal(
      client.create({
        name: "bad",
        route: "chat",
        arms,
        duration: "24h",
        feedbackMetrics: [
          { name: "Thumbs Up", min: 0, max: 1 },
          { name: "score", min: 5, max: 1 },
          { name: "score" },
          { name: "revenue", min: -1e13 },
          { name: "latency", max: Number.POSITIVE_INFINITY },
        ],
      }),
    );
    assert.equal(err.code, Code.InvalidArgument);
    for (const part of [
      "feedback_metrics[0].name: must be 1..64 characters of [a-z0-9_.-]",
      "feedback_metrics[1].max: must not be below min (1 < 5)",
      'feedback_metrics[2].name: duplicate metric "score"',
      "feedback_metrics[3].min: must be a number from -1e12 to 1e12, got -10000000000000",
      "feedback_metrics[4].max: must be a number from -1e12 to 1e12, got Infinity",
    ])
      assert.ok(err.rawMessage.includes(part), `${part} in ${err.rawMessage}`);
    assert.equal((await client.list({})).experiments.length, 0);

    const created = await client.create({
      id: "fm",
      name: "fm",
      route: "chat",
      arms,
      duration: "24h",
      metrics: ["response_time", "accuracy"],
      feedbackMetrics: [{ name: "thumbs_up", min: 0, max: 1 }, { name: "score", min: 1 }, { name: "delta" }],
    });
    assert.deepEqual(
      created.experiment?.feedbackMetrics.map((m) => [m.name, m.min, m.max]),
      [
        ["thumbs_up", 0, 1],
        ["score", 1, 1e9],
        ["delta", -1e9, 1e9],
      ],
    );
    assert.deepEqual(created.experiment?.metrics, ["response_time", "accuracy"], "the seed's metric names are kept as they were");
    await client.start({ id: "fm" });
    const snap = p.controlPlane.currentSnapshot();
    assert.deepEqual(
      snap.experiments[0].feedbackMetrics.map((m) => [m.name, m.min, m.max]),
      [
        ["thumbs_up", 0, 1],
        ["score", 1, 1e9],
        ["delta", -1e9, 1e9],
      ],
    );
    assert.deepEqual(snap.feedbackExperiments, []);
  });

  test("a paused or stopped experiment stays in the snapshot for feedback, with its phases, arms and metrics", async () => {
    const { p, client } = await plane();
    await client.create({
      id: "kept",
      name: "kept",
      route: "chat",
      arms: [
        { name: "a", weight: 50 },
        { name: "b", weight: 50 },
      ],
      duration: "24h",
      feedbackMetrics: [{ name: "thumbs_up", min: 0, max: 1 }],
    });
    await client.start({ id: "kept" });
    await client.changeSplit({ id: "kept", weights: [80, 20] });
    await client.pause({ id: "kept" });
    const paused = p.controlPlane.currentSnapshot();
    assert.deepEqual(checkSnapshot(paused), []);
    assert.deepEqual(
      paused.feedbackExperiments.map((e) => [e.id, e.phases, e.arms, e.feedbackMetrics.map((m) => m.name), e.endedAt]),
      [["kept", 2, 2, ["thumbs_up"], undefined]],
    );
    const stopped = await client.stop({ id: "kept" });
    const snap = p.controlPlane.currentSnapshot();
    assert.equal(snap.version, stopped.snapshotVersion);
    assert.deepEqual(
      snap.feedbackExperiments.map((e) => [e.id, e.phases, e.endedAt?.seconds]),
      [["kept", 2, stopped.experiment?.phases[1].endedAt?.seconds]],
    );
  });

  test("Start publishes a consistent snapshot carrying the running experiment; Pause and Stop take it out", async () => {
    const { p, client } = await plane();
    await client.create({
      id: "e1",
      name: "e1",
      route: "chat",
      arms: [
        { name: "a", weight: 1 },
        { name: "b", weight: 3 },
      ],
      duration: "24h",
      targeting: { attr: "region", eq: "eu" },
    });
    const started = await client.start({ id: "e1" });
    assert.equal(started.experiment?.status, ExperimentStatus.RUNNING);
    assert.equal(started.experiment?.phases.length, 1);
    const snap = p.controlPlane.currentSnapshot();
    assert.equal(snap.version, started.snapshotVersion);
    assert.deepEqual(checkSnapshot(snap), []);
    assert.equal(snap.experiments.length, 1);
    const e = snap.experiments[0];
    assert.deepEqual(
      e.arms.map((a) => a.ranges.map((r) => [r.start, r.end])),
      [[[0, 2500]], [[2500, 10000]]],
    );
    assert.deepEqual(
      e.layerRanges.map((r) => [r.start, r.end]),
      [[0, 10000]],
    );
    assert.equal(e.layer, "route:chat");
    assert.deepEqual(e.targeting, { attr: "region", eq: "eu" });
    const ends = Number(started.experiment!.endsAt!.seconds) - Number(started.experiment!.startedAt!.seconds);
    assert.equal(ends, 24 * 3600);

    assert.equal((await refusal(client.start({ id: "e1" }))).code, Code.FailedPrecondition);
    await client.pause({ id: "e1" });
    assert.equal(p.controlPlane.currentSnapshot().experiments.length, 0);
    await client.start({ id: "e1" });
    assert.equal(p.controlPlane.currentSnapshot().experiments.length, 1);
    const stopped = await client.stop({ id: "e1" });
    assert.equal(stopped.experiment?.status, ExperimentStatus.STOPPED);
    assert.equal(stopped.experiment?.endReason, "stopped");
    assert.equal(p.controlPlane.currentSnapshot().experiments.length, 0);
  });

  test("experiments of one layer get disjoint layer buckets, and a full layer refuses another", async () => {
    const { p, client } = await plane();
    const base = { duration: "24h", layer: "shared", layerPercent: 40 };
    await client.create({
      ...base,
      id: "l1",
      name: "l1",
      route: "chat",
      arms: [
        { name: "a", weight: 1 },
        { name: "b", weight: 1 },
      ],
    });
    await client.create({
      ...base,
      id: "l2",
      name: "l2",
      route: "other",
      arms: [
        { name: "x", weight: 1 },
        { name: "y", weight: 1 },
      ],
    });
    await client.create({
      ...base,
      id: "l3",
      name: "l3",
      route: "other",
      arms: [
        { name: "x", weight: 1 },
        { name: "y", weight: 1 },
      ],
    });
    await client.start({ id: "l1" });
    await client.start({ id: "l2" });
    const full = await refusal(client.start({ id: "l3" }));
    assert.equal(full.code, Code.FailedPrecondition);
    assert.match(full.rawMessage, /layer "shared" has 20% free/);
    const snap = p.controlPlane.currentSnapshot();
    assert.deepEqual(
      snap.experiments.map((e) => [e.id, e.layerRanges.map((r) => [r.start, r.end])]),
      [
        ["l1", [[0, 4000]]],
        ["l2", [[4000, 8000]]],
      ],
    );
    // stopping l1 frees its buckets; l2 keeps its own
    await client.stop({ id: "l1" });
    await client.start({ id: "l3" });
    const after = p.controlPlane.currentSnapshot();
    assert.deepEqual(
      after.experiments.map((e) => [e.id, e.layerRanges.map((r) => [r.start, r.end])]),
      [
        ["l2", [[4000, 8000]]],
        ["l3", [[0, 4000]]],
      ],
    );
  });

  test("an experiment past its duration stops itself and the snapshot drops it", async () => {
    const { p, client } = await plane();
    await client.create({
      id: "short",
      name: "short",
      route: "chat",
      arms: [
        { name: "a", weight: 1 },
        { name: "b", weight: 1 },
      ],
      duration: "300ms",
    });
    await client.start({ id: "short" });
    assert.equal(p.controlPlane.currentSnapshot().experiments.length, 1);
    await until(
      "the experiment to stop itself",
      async () => (await client.get({ id: "short" })).experiment!.status !== ExperimentStatus.RUNNING,
      { intervalMs: 50 },
    );
    const e = (await client.get({ id: "short" })).experiment!;
    assert.equal(e.status, ExperimentStatus.STOPPED);
    assert.equal(e.endReason, "duration");
    assert.ok(e.phases[0].endedAt !== undefined);
    // The stop is stored before the snapshot without the experiment is published: wait for that.
    await until("a snapshot without the experiment", () => p.controlPlane.currentSnapshot().experiments.length === 0);
    assert.equal(p.controlPlane.currentSnapshot().experiments.length, 0);
  });

  test("a restart keeps experiments, and one whose end passed while down stops at startup", async () => {
    const first = await plane();
    await first.client.create({
      id: "keep",
      name: "keep",
      route: "chat",
      arms: [
        { name: "a", weight: 1 },
        { name: "b", weight: 1 },
      ],
      duration: "24h",
    });
    await first.client.create({
      id: "lapse",
      name: "lapse",
      route: "other",
      arms: [
        { name: "x", weight: 1 },
        { name: "y", weight: 1 },
      ],
      duration: "1s",
    });
    await first.client.start({ id: "keep" });
    const lapse = await first.client.start({ id: "lapse" });
    const before = first.p.controlPlane.currentSnapshot().experiments.find((e) => e.id === "keep");
    await first.p.close();
    planes.splice(planes.indexOf(first.p), 1);
    // wait out lapse's end while no control plane runs
    const endsMs = Number(lapse.experiment!.endsAt!.seconds) * 1000 + lapse.experiment!.endsAt!.nanos / 1e6;
    await until("lapse's end to pass", () => Date.now() > endsMs);
    const second = await plane(first.p.dir);
    const kept = (await second.client.get({ id: "keep" })).experiment!;
    assert.equal(kept.status, ExperimentStatus.RUNNING);
    assert.equal((await second.client.get({ id: "lapse" })).experiment!.status, ExperimentStatus.STOPPED);
    const snap = second.p.controlPlane.currentSnapshot();
    assert.deepEqual(
      snap.experiments.map((e) => e.id),
      ["keep"],
    );
    assert.deepEqual(snap.experiments[0].arms, before?.arms);
    assert.equal(snap.experiments[0].seed, before?.seed);
  });

  test("Conclude makes the winning arm's variant the route's default", async () => {
    const { p, client } = await plane();
    await client.create({
      id: "win",
      name: "win",
      route: "chat",
      arms: [
        { name: "a", weight: 1 },
        { name: "b", weight: 1 },
      ],
      duration: "24h",
    });
    await client.start({ id: "win" });
    assert.equal((await refusal(client.conclude({ id: "win", arm: "nope" }))).code, Code.InvalidArgument);
    const done = await client.conclude({ id: "win", arm: "b" });
    assert.equal(done.experiment?.status, ExperimentStatus.CONCLUDED);
    assert.equal(done.experiment?.winner, "b");
    const snap = p.controlPlane.currentSnapshot();
    assert.equal(snap.routes.find((r) => r.name === "chat")?.defaultVariant, "b");
    assert.equal(snap.experiments.length, 0);
  });

  test("ChangeSplit opens a new phase: a weight change keeps users where their buckets stay, a re-randomisation assigns afresh", async () => {
    const { p, client } = await plane();
    await client.create({
      id: "sp",
      name: "sp",
      route: "chat",
      arms: [
        { name: "a", weight: 50 },
        { name: "b", weight: 50 },
      ],
      duration: "24h",
    });
    const draft = await refusal(client.changeSplit({ id: "sp", weights: [80, 20] }));
    assert.equal(draft.code, Code.FailedPrecondition);
    await client.start({ id: "sp" });
    const users = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
    /** Each user's arm name under the current snapshot. */
    const arms = () => {
      const e = p.controlPlane.currentSnapshot().experiments.find((x) => x.id === "sp")!;
      const table = bucketTable(e.arms);
      return { phase: e.phase, seed: e.seed, of: users.map((u) => e.arms[table[bucketOf(e.seed, u)]].name) };
    };
    const before = arms();
    assert.equal(before.phase, 0);

    // bad input names the field and changes nothing
    const bad = await refusal(client.changeSplit({ id: "sp", weights: [80, -1] }));
    assert.equal(bad.code, Code.InvalidArgument);
    assert.match(bad.rawMessage, /weights\[1\]: must be a non-negative number/);
    assert.match(
      (await refusal(client.changeSplit({ id: "sp", weights: [1, 2, 3] }))).rawMessage,
      /weights: must give one weight per arm \(a, b\), got 3/,
    );
    assert.match(
      (await refusal(client.changeSplit({ id: "sp", weights: [50, 50] }))).rawMessage,
      /weights: are the current split \(50\/50\)/,
    );
    assert.match((await refusal(client.changeSplit({ id: "sp" }))).rawMessage, /weights: must give a weight per arm/);
    assert.equal((await client.get({ id: "sp" })).experiment!.phases.length, 1);

    // 50/50 → 80/20: every user in a stays in a; of b's users, 3 in 5 move to a
    const moved = await client.changeSplit({ id: "sp", weights: [80, 20] });
    assert.equal(moved.experiment!.phases.length, 2);
    assert.ok(moved.experiment!.phases[0].endedAt !== undefined);
    assert.deepEqual(moved.experiment!.phases[1].weights, [80, 20]);
    assert.deepEqual(
      moved.experiment!.arms.map((a) => a.weight),
      [80, 20],
    );
    assert.equal(moved.snapshotVersion, p.controlPlane.currentSnapshot().version);
    assert.deepEqual(checkSnapshot(p.controlPlane.currentSnapshot()), []);
    const after = arms();
    assert.deepEqual([after.phase, after.seed], [1, before.seed]);
    let stayedB = 0;
    for (let i = 0; i < users.length; i++) {
      if (before.of[i] === "a") assert.equal(after.of[i], "a", `${users[i]} left a`);
      else if (after.of[i] === "b") stayedB++;
    }
    const inA = after.of.filter((x) => x === "a").length / users.length;
    assert.ok(Math.abs(inA - 0.8) < 0.03, `a has ${inA}`);
    assert.equal(
      after.of.every((x, i) => x === "a" || before.of[i] === "b"),
      true,
    );
    assert.ok(stayedB > 0.15 * users.length && stayedB < 0.25 * users.length, `b kept ${stayedB}`);

    // back to 50/50 in the same seed: the users who were b in phase 1 are b again
    await client.changeSplit({ id: "sp", weights: [50, 50] });
    const back = arms();
    for (let i = 0; i < users.length; i++) if (after.of[i] === "b") assert.equal(back.of[i], "b");

    // re-randomise: a new seed, the same split, users reshuffled (about half change arm)
    const fresh = await client.changeSplit({ id: "sp", rerandomize: true });
    assert.deepEqual(
      fresh.experiment!.phases.map((ph) => ph.seed),
      ["sp:0", "sp:0", "sp:0", "sp:3"],
    );
    assert.deepEqual(fresh.experiment!.phases[3].weights, [50, 50]);
    const shuffled = arms();
    assert.deepEqual([shuffled.phase, shuffled.seed], [3, "sp:3"]);
    const changed = shuffled.of.filter((x, i) => x !== back.of[i]).length / users.length;
    assert.ok(changed > 0.4 && changed < 0.6, `changed ${changed}`);

    // a stale revision is Aborted; a stopped experiment cannot be re-split
    const stale = await refusal(client.changeSplit({ id: "sp", weights: [60, 40], expectedRevision: 1n }));
    assert.equal(stale.code, Code.Aborted);
    await client.stop({ id: "sp" });
    assert.equal((await refusal(client.changeSplit({ id: "sp", weights: [60, 40] }))).code, Code.FailedPrecondition);
  });
});
