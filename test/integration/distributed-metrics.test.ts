import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { SyncState } from "../../gen/turnout/v1/fleet_pb.js";
import type { MetricsWindow } from "../../gen/turnout/v1/metrics_pb.js";
import { chat, controlClients, startCluster, waitForFleet, type ControlClients } from "./distributed-support.ts";

const TOTAL = 600;
const WORKERS = 8;

const requestsOf = (w: MetricsWindow | undefined) => (w?.series ?? []).reduce((n, s) => n + Number(s.requests), 0);

test("a control plane killed (SIGKILL) and restarted under load: GetMetrics counts every request exactly once, per series; WatchMetrics resumes", async () => {
  const cluster = await startCluster();
  const nc = await connect({ servers: cluster.nats.url, name: "test-observer" });
  try {
    let c1: ControlClients = controlClients((await cluster.startControl("c1")).url);
    const proxies = await Promise.all(["p1", "p2", "p3"].map((id) => cluster.startProxy(id)));
    await waitForFleet(c1, (view) => view.proxies.filter((p) => p.sync === SyncState.SYNCED).length === 3);
    const split = await c1.admin.setWeights({
      route: "qwen3-32b",
      weights: [
        { variant: "big", weight: 50 },
        { variant: "small", weight: 50 },
      ],
      waitForFleetMs: 10_000,
    });
    assert.equal(split.convergence?.converged, true);

    // Bounded load: 8 workers send TOTAL requests over the 3 proxies (distinct users, so both
    // variants serve). Past 2/3 of them the workers wait for the restarted control plane, so the
    // load runs before the kill, while no control plane runs, and after the restart.
    const sent = new Map<string, number>();
    let issued = 0;
    let answered = 0;
    let failed = 0;
    const targets: { n: number; resolve: () => void }[] = [];
    const reached = (n: number) => new Promise<void>((resolve) => (answered >= n ? resolve() : targets.push({ n, resolve })));
    let restarted!: () => void;
    const afterRestart = new Promise<void>((resolve) => (restarted = resolve));
    const worker = async () => {
      while (issued < TOTAL) {
        const i = issued++;
        if (i === Math.floor((TOTAL * 2) / 3)) await afterRestart; // (the other workers queue behind `reached`)
        const r = await chat(proxies[i % proxies.length].url, `user-${i}`);
        if (r.status === 200) sent.set(r.variant, (sent.get(r.variant) ?? 0) + 1);
        else failed++;
        answered++;
        for (const t of targets) if (answered >= t.n) t.resolve();
      }
    };
    const load = Promise.all(Array.from({ length: WORKERS }, worker));

    // A client watches the first control plane; its stream ends when the process dies.
    const watchFirst = (async () => {
      let windows = 0;
      try {
        for await (const _ of c1.metrics.watchMetrics({ intervalMs: 100 })) windows++;
      } catch {
        // the connection was reset by the kill: also an end
      }
      return windows;
    })();

    await reached(TOTAL / 3);
    await cluster.controls.get("c1")!.kill(); // SIGKILL: acks in flight and in-memory counts are lost
    assert.ok((await watchFirst) >= 1, "the first control plane streamed windows until it died");
    await reached(TOTAL / 2); // requests keep flowing while no control plane runs
    c1 = controlClients((await cluster.startControl("c1")).url); // same --id: same durable consumer
    restarted();
    await load;
    assert.equal(failed, 0);
    const total = [...sent.values()].reduce((a, b) => a + b, 0);
    assert.equal(total, TOTAL);
    assert.equal(sent.size, 2, "both variants served");

    // WatchMetrics on the restarted control plane: windows until the count equals what was sent
    // and the durable consumer holds nothing more (no entry left to deliver, none unacked — the
    // dead instance's unacked entries come back after ack_wait), so nothing can still arrive.
    const jsm = await jetstreamManager(nc);
    const settled = async () => {
      const info = await jsm.consumers.info("TURNOUT_OUTCOMES", "control-c1");
      return info.num_pending === 0 && info.num_ack_pending === 0;
    };
    let seen: MetricsWindow | undefined;
    let windows = 0;
    const watch = new AbortController();
    const deadline = AbortSignal.timeout(45_000);
    try {
      for await (const msg of c1.metrics.watchMetrics(
        { intervalMs: 200, windowSeconds: 3600 },
        { signal: AbortSignal.any([watch.signal, deadline]) },
      )) {
        windows++;
        seen = msg.window;
        assert.ok(requestsOf(seen) <= TOTAL, `counted ${requestsOf(seen)} > ${TOTAL} sent: a request was counted twice`);
        if (requestsOf(seen) === TOTAL && (await settled())) break;
      }
    } catch (err) {
      if (!deadline.aborted) throw err; // at the deadline: the assertions below say what is missing
    }
    watch.abort();
    assert.ok(windows >= 1, "WatchMetrics resumed on the restarted control plane");
    assert.equal(requestsOf(seen), TOTAL, `WatchMetrics counted ${requestsOf(seen)} of ${TOTAL}`);

    const { window } = await c1.metrics.getMetrics({ windowSeconds: 3600 });
    assert.equal(requestsOf(window), TOTAL, "GetMetrics over the hour: every request exactly once");
    assert.equal(Number(window?.outcomesTotal), TOTAL, "no outcome applied twice, none outside the window");
    const bySeries = Object.fromEntries((window?.series ?? []).map((s) => [`${s.route}/${s.variant}`, Number(s.requests)]));
    assert.deepEqual(bySeries, Object.fromEntries([...sent].sort().map(([variant, n]) => [`qwen3-32b/${variant}`, n])));
    for (const s of window?.series ?? []) assert.deepEqual(s.errors, {}, "no errors counted");
  } finally {
    await nc.close();
    await cluster.close();
  }
});
