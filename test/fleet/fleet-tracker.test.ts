import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ApplyState, ProxyStatusSchema, type ProxyStatus } from "../../gen/turnout/v1/events_pb.js";
import { SyncState } from "../../gen/turnout/v1/fleet_pb.js";
import { createFleetTracker } from "../../src/control/fleet/fleet-tracker.ts";

const T0 = 1_700_000_000_000;

function status(
  id: string,
  fields: { version?: number; applied: number; nack?: string; interval?: number; inFlight?: number },
): ProxyStatus {
  const nack = fields.nack !== undefined;
  return create(ProxyStatusSchema, {
    id,
    host: "test-host",
    version: BigInt(fields.version ?? fields.applied),
    appliedVersion: BigInt(fields.applied),
    state: nack ? ApplyState.NACK : ApplyState.ACK,
    error: fields.nack ?? "",
    inFlight: fields.inFlight ?? 0,
    heartbeatIntervalMs: fields.interval ?? 1000,
    url: `http://127.0.0.1/${id}`,
  });
}

const syncs = (t: ReturnType<typeof createFleetTracker>, now: number, includeGone = false) =>
  Object.fromEntries(t.entries(now, includeGone).map((e) => [e.status!.id, e.sync]));

test("a proxy serving the latest version is SYNCED, an older one STALE, one that rejected it NACKED", () => {
  const t = createFleetTracker();
  t.observeSnapshot(1, T0);
  t.recordStatus(status("a", { applied: 1 }), T0 + 1);
  t.recordStatus(status("b", { applied: 1 }), T0 + 1);
  t.recordStatus(status("c", { applied: 1 }), T0 + 1);
  t.observeSnapshot(2, T0 + 10);
  t.recordStatus(status("a", { applied: 2 }), T0 + 12);
  t.recordStatus(status("c", { version: 2, applied: 1, nack: "routes[0]: bad" }), T0 + 13);
  assert.deepEqual(syncs(t, T0 + 20), { a: SyncState.SYNCED, b: SyncState.STALE, c: SyncState.NACKED });
  const c = t.convergence(2, T0 + 20);
  assert.equal(c.live, 3);
  assert.equal(c.synced, 1);
  assert.equal(c.stale, 1);
  assert.equal(c.nacked, 1);
  assert.equal(c.converged, false);
  assert.equal(c.publishToLastAckMs, 0);
  assert.equal(timestampMs(c.publishedAt!), T0 + 10);
  assert.equal(t.entries(T0 + 20, false).find((e) => e.status!.id === "c")!.status!.error, "routes[0]: bad");
});

test("a proxy silent for 3 heartbeat intervals is GONE and not counted", () => {
  const t = createFleetTracker();
  t.observeSnapshot(1, T0);
  t.recordStatus(status("a", { applied: 1, interval: 1000 }), T0);
  t.recordStatus(status("b", { applied: 0, interval: 500 }), T0);
  assert.equal(t.convergence(1, T0 + 1000).live, 2);
  assert.equal(t.nextTransitionAt(T0), T0 + 1500);
  // b (500 ms heartbeats) is gone after 1500 ms; a (1000 ms) is still live.
  assert.equal(t.syncOf("b", T0 + 1499), SyncState.STALE);
  assert.equal(t.syncOf("b", T0 + 1500), SyncState.GONE);
  assert.deepEqual(syncs(t, T0 + 1500), { a: SyncState.SYNCED });
  assert.deepEqual(syncs(t, T0 + 1500, true), { a: SyncState.SYNCED, b: SyncState.GONE });
  const c = t.convergence(1, T0 + 1500);
  assert.deepEqual([c.live, c.synced, c.stale, c.converged], [1, 1, 0, true]);
  assert.equal(t.nextTransitionAt(T0 + 1500), T0 + 3000);
  assert.equal(t.syncOf("a", T0 + 3000), SyncState.GONE);
  assert.equal(t.convergence(1, T0 + 3000).live, 0);
  assert.equal(t.convergence(1, T0 + 3000).converged, false, "no live proxy: nothing converged");
});

test("a heartbeat keeps a proxy live and a GONE proxy that reports again is live again", () => {
  const t = createFleetTracker();
  t.observeSnapshot(3, T0);
  assert.equal(t.recordStatus(status("a", { applied: 3 }), T0), true, "a new proxy changes the view");
  assert.equal(t.recordStatus(status("a", { applied: 3 }), T0 + 1000), false, "a plain heartbeat does not");
  assert.equal(t.recordStatus(status("a", { applied: 3, inFlight: 4 }), T0 + 2000), true, "in-flight counts do");
  assert.equal(t.syncOf("a", T0 + 4999), SyncState.SYNCED);
  assert.equal(t.syncOf("a", T0 + 5000), SyncState.GONE);
  assert.equal(t.recordStatus(status("a", { applied: 3, inFlight: 4 }), T0 + 9000), true, "coming back changes the view");
  assert.equal(t.syncOf("a", T0 + 9000), SyncState.SYNCED);
});

test("publish_to_last_ack_ms is the time from publish to the last live proxy's ACK, fixed at convergence", () => {
  const t = createFleetTracker();
  t.observeSnapshot(1, T0);
  for (const id of ["a", "b", "c"]) t.recordStatus(status(id, { applied: 1 }), T0 + 5);
  t.observeSnapshot(2, T0 + 100);
  t.recordStatus(status("a", { applied: 2 }), T0 + 112);
  t.recordStatus(status("b", { applied: 2 }), T0 + 130);
  assert.equal(t.convergence(2, T0 + 131).converged, false);
  assert.equal(t.convergence(2, T0 + 131).publishToLastAckMs, 0);
  t.recordStatus(status("c", { applied: 2 }), T0 + 145);
  const c = t.convergence(2, T0 + 150);
  assert.deepEqual([c.live, c.synced, c.converged, c.publishToLastAckMs], [3, 3, true, 45]);
  // A proxy joining later on an old version makes the view unconverged but keeps the measured time.
  t.recordStatus(status("d", { applied: 1 }), T0 + 500);
  const later = t.convergence(2, T0 + 500);
  assert.deepEqual([later.live, later.synced, later.stale, later.converged, later.publishToLastAckMs], [4, 3, 1, false, 45]);
});

test("an ACK that arrives before this control plane records the publish is measured from the publish", () => {
  const t = createFleetTracker();
  t.recordStatus(status("a", { applied: 7 }), T0 + 20);
  t.observeSnapshot(7, T0);
  const c = t.convergence(7, T0 + 30);
  assert.equal(c.converged, true);
  assert.equal(c.publishToLastAckMs, 20);
  assert.equal(timestampMs(c.publishedAt!), T0);
});

test("a proxy that skips a version counts as synced for it, timed at the newer version's ACK", () => {
  const t = createFleetTracker();
  t.observeSnapshot(1, T0);
  t.recordStatus(status("a", { applied: 1 }), T0);
  t.observeSnapshot(2, T0 + 10);
  t.observeSnapshot(3, T0 + 20);
  t.recordStatus(status("a", { applied: 3 }), T0 + 50);
  assert.equal(t.convergence(2, T0 + 60).publishToLastAckMs, 40);
  assert.equal(t.convergence(3, T0 + 60).publishToLastAckMs, 30);
  assert.equal(t.latestVersion(), 3);
});

test("a NACK of the latest version counts as nacked, not stale, until a newer version is published", () => {
  const t = createFleetTracker();
  t.observeSnapshot(4, T0);
  t.recordStatus(status("a", { applied: 4 }), T0);
  t.observeSnapshot(5, T0 + 10);
  t.recordStatus(status("a", { version: 5, applied: 4, nack: "content_hash: mismatch" }), T0 + 11);
  assert.equal(t.syncOf("a", T0 + 12), SyncState.NACKED);
  assert.equal(t.convergence(5, T0 + 12).nacked, 1);
  t.observeSnapshot(6, T0 + 20);
  assert.equal(t.syncOf("a", T0 + 21), SyncState.STALE);
  assert.equal(t.convergence(5, T0 + 21).nacked, 1, "version 5 stays rejected by a");
  t.recordStatus(status("a", { applied: 6 }), T0 + 22);
  assert.equal(t.syncOf("a", T0 + 23), SyncState.SYNCED);
  assert.equal(t.convergence(5, T0 + 23).synced, 1, "serving a newer version counts as synced");
});

test("history keeps the last N versions and gone proxies are forgotten after a while", () => {
  const t = createFleetTracker({ historySize: 3, forgetGoneAfterMs: 60_000 });
  for (let v = 1; v <= 5; v++) t.observeSnapshot(v, T0 + v);
  t.recordStatus(status("a", { applied: 5 }), T0 + 10);
  assert.equal(t.convergence(1, T0 + 20).publishedAt, undefined, "version 1 dropped from the history");
  assert.equal(t.convergence(1, T0 + 20).synced, 1, "counts still answer from applied versions");
  assert.notEqual(t.convergence(3, T0 + 20).publishedAt, undefined);
  assert.equal(t.prune(T0 + 59_999), false);
  assert.equal(t.nextTransitionAt(T0 + 5000), T0 + 60_010);
  assert.equal(t.prune(T0 + 60_010), true);
  assert.deepEqual(t.entries(T0 + 60_010, true), []);
  assert.equal(t.nextTransitionAt(T0 + 60_010), undefined);
});
