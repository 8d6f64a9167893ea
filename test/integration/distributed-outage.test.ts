import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { SyncState } from "../../gen/turnout/v1/fleet_pb.js";
import { chat, controlClients, startCluster, waitForFleet } from "./distributed-support.ts";

/** Runs `workers` loops of sequential chats over the proxies until `stop` resolves; answers every status (0: no answer). */
async function steadyLoad(urls: () => string[], workers: number, stop: Promise<void>): Promise<number[]> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; !stopped; i++) {
        const list = urls();
        const r = await chat(list[(w + i) % list.length], `user-${w}-${i % 7}`).catch(() => ({ status: 0 }));
        statuses.push(r.status);
      }
    }),
  );
  return statuses;
}

function heartbeatMs(status: unknown): number {
  const at = (status as { heartbeatAt?: { seconds: bigint; nanos: number } } | undefined)?.heartbeatAt;
  return at === undefined ? 0 : Number(at.seconds) * 1000 + at.nanos / 1e6;
}

test("NATS killed under steady load: proxies keep answering, writes fail fast with Unavailable, the fleet converges again after NATS returns", async () => {
  const cluster = await startCluster();
  try {
    const c1 = controlClients((await cluster.startControl("c1")).url);
    await Promise.all(["p1", "p2", "p3"].map((id) => cluster.startProxy(id)));
    // A started proxy may not have reported yet; the switch's convergence counts the proxies seen live.
    await waitForFleet(c1, (view) => view.proxies.length === 3);
    const switched = await c1.admin.switchModel({ route: "qwen3-32b", variant: "small", waitForFleetMs: 10_000 });
    assert.equal(switched.convergence?.synced, 3);
    const lastVersion = Number(switched.snapshotVersion);

    let stopLoad!: () => void;
    // Steady load on p1 and p2 (p3 is restarted during the outage below).
    const steady = [cluster.proxies.get("p1")!.url, cluster.proxies.get("p2")!.url];
    const loadDone = steadyLoad(() => steady, 6, new Promise<void>((r) => (stopLoad = r)));

    await cluster.nats.kill();

    // Writes fail fast and say why; nothing is applied.
    const started = performance.now();
    const err = await c1.admin.switchModel({ route: "qwen3-32b", variant: "big" }).then(
      () => assert.fail("a write succeeded while NATS was down"),
      (e: unknown) => ConnectError.from(e),
    );
    const took = performance.now() - started;
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.rawMessage, /NATS/);
    assert.ok(took < 10_000, `the write failed after ${Math.round(took)} ms`);

    // A proxy restarted while NATS is down serves from its last good snapshot on disk.
    await cluster.proxies.get("p3")!.kill();
    const p3 = await cluster.startProxy("p3");
    const fromDisk = await chat(p3.url);
    assert.equal(fromDisk.status, 200);
    assert.equal(fromDisk.snapshot, lastVersion);
    assert.equal(fromDisk.variant, "small");

    // Every request during the outage was answered from the last snapshot.
    for (const url of [...cluster.proxies.values()].map((p) => p.url)) {
      const r = await chat(url);
      assert.equal(r.status, 200);
      assert.equal(r.snapshot, lastVersion);
    }

    await cluster.nats.restart();
    const back = Date.now();
    stopLoad();
    const statuses = await loadDone;
    assert.ok(statuses.length > 0);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      "no request failed during the outage",
    );

    // After NATS returns, the next change reaches the whole fleet with no manual step.
    // The control plane hears every proxy's heartbeat again once both sides have reconnected.
    await waitForFleet(
      c1,
      (view) => view.proxies.filter((p) => p.sync !== SyncState.GONE && heartbeatMs(p.status) >= back).length === 3,
      30_000,
    );
    const next = await c1.admin.switchModel({ route: "qwen3-32b", variant: "big", waitForFleetMs: 20_000 });
    assert.equal(next.convergence?.converged, true);
    assert.equal(next.convergence?.synced, 3);
    for (const p of cluster.proxies.values()) assert.equal((await chat(p.url)).variant, "big");
  } finally {
    await cluster.close();
  }
});
