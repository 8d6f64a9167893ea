import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { OutcomeBatchSchema, type OutcomeBatch } from "../../gen/turnout/v1/events_pb.js";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import type { Outcome } from "../../src/proxy/outcome.ts";
import { createOutcomeBatcher, type OutcomeBatcherOptions } from "../../src/proxy/outcomes/outcome-batcher.ts";
import { createFileOutcomeLog, type FileOutcomeLog } from "../../src/transport/memory/file-outcome-log.ts";
import type { OutcomeLog } from "../../src/transport/types.ts";

const logger = createLogger({ level: "silent" });
let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "turnout-batcher-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let dirs = 0;
function openLog(): FileOutcomeLog {
  return createFileOutcomeLog({ dir: join(root, `log-${++dirs}`), fsync: false });
}

function outcome(i: number): Outcome {
  return {
    requestId: `req-${i}`,
    snapshotVersion: 3,
    route: "chat",
    variant: "stable",
    arm: "",
    unitHash: "",
    bucket: 42,
    armIndex: 1,
    node: "n1",
    status: "ok",
    httpStatus: 200,
    latencyMs: 100,
    ttftMs: 20,
    promptTokens: 7,
    completionTokens: 9,
    tokensPerSecond: 30,
  };
}

/** An OutcomeLog in front of a real one whose appends can be made to fail. */
function flaky(inner: OutcomeLog) {
  const attempts: string[] = [];
  const state = { failBefore: 0, failAfter: 0 };
  const log: OutcomeLog = {
    async append(id, data) {
      attempts.push(id);
      if (state.failBefore > 0) {
        state.failBefore--;
        throw new TurnoutError(ErrorCode.Unavailable, "log away");
      }
      await inner.append(id, data);
      if (state.failAfter > 0) {
        state.failAfter--;
        throw new TurnoutError(ErrorCode.Unavailable, "ack lost");
      }
    },
    consume: (c, s) => inner.consume(c, s),
    replay: (c, since, s) => inner.replay(c, since, s),
  };
  return { log, attempts, state };
}

/** Every batch in the log (all entries up to its last seq). */
async function readAll(log: FileOutcomeLog): Promise<OutcomeBatch[]> {
  const last = log.stats().lastSeq;
  const out: OutcomeBatch[] = [];
  if (last < log.stats().firstSeq) return out;
  const ac = new AbortController();
  for await (const e of log.consume(`reader${dirs}`, ac.signal)) {
    out.push(fromBinary(OutcomeBatchSchema, e.data));
    if (e.seq >= last) break;
  }
  ac.abort();
  return out;
}

function batcher(log: OutcomeLog, extra: Partial<OutcomeBatcherOptions> = {}) {
  return createOutcomeBatcher({ log, proxyId: "p1", bootId: "boot", logger, retryDelayMs: 1, maxRetryDelayMs: 5, ...extra });
}

test("seals a batch at maxBatch records without waiting for the timer", async () => {
  const log = openLog();
  const b = batcher(log, { maxDelayMs: 600_000 });
  for (let i = 0; i < 100; i++) b.push(outcome(i), 1_800_000_000_000 + i + 0.5);
  const ac = new AbortController();
  for await (const e of log.consume("c", ac.signal)) {
    const batch = fromBinary(OutcomeBatchSchema, e.data);
    assert.equal(batch.proxy, "p1");
    assert.equal(batch.outcomes.length, 100);
    const first = batch.outcomes[0];
    assert.equal(first.requestId, "req-0");
    assert.equal(first.proxy, "p1");
    assert.equal(first.snapshotVersion, 3n);
    assert.equal(first.arm, 1);
    assert.equal(first.unitHash, 42);
    assert.equal(first.finishedAt?.seconds, 1_800_000_000n);
    assert.equal(first.finishedAt?.nanos, 500_000);
    break;
  }
  ac.abort();
  assert.equal(b.stats().appendedBatches, 1);
  await b.close();
  await log.close();
});

test("a partial batch goes out after maxDelayMs", async () => {
  const log = openLog();
  const b = batcher(log, { maxDelayMs: 20 });
  for (let i = 0; i < 3; i++) b.push(outcome(i), Date.now());
  const ac = new AbortController();
  for await (const e of log.consume("c", ac.signal)) {
    assert.equal(fromBinary(OutcomeBatchSchema, e.data).outcomes.length, 3);
    break;
  }
  ac.abort();
  await b.close();
  await log.close();
});

test("retries while the log is unavailable, under the same id, and loses nothing", async () => {
  const log = openLog();
  const f = flaky(log);
  f.state.failBefore = 3;
  const b = batcher(f.log, { maxDelayMs: 600_000 });
  for (let i = 0; i < 250; i++) b.push(outcome(i), Date.now());
  await b.flush();
  assert.deepEqual(f.attempts, ["p1:boot:1", "p1:boot:1", "p1:boot:1", "p1:boot:1", "p1:boot:2", "p1:boot:3"]);
  const s = b.stats();
  assert.equal(s.retries, 3);
  assert.equal(s.appendedBatches, 3);
  assert.equal(s.appendedRecords, 250);
  assert.equal(s.droppedRecords, 0);
  assert.equal(s.queuedRecords, 0);
  const ids = (await readAll(log)).flatMap((batch) => batch.outcomes.map((o) => o.requestId));
  assert.deepEqual(
    ids,
    Array.from({ length: 250 }, (_, i) => `req-${i}`),
  );
  await b.close();
  await log.close();
});

test("an append that landed but answered unavailable is retried under its id and stored once", async () => {
  const log = openLog();
  const f = flaky(log);
  f.state.failAfter = 1;
  const b = batcher(f.log);
  for (let i = 0; i < 10; i++) b.push(outcome(i), Date.now());
  await b.flush();
  assert.deepEqual(f.attempts, ["p1:boot:1", "p1:boot:1"]);
  const batches = await readAll(log);
  assert.equal(batches.length, 1);
  assert.equal(batches[0].outcomes.length, 10);
  await b.close();
  await log.close();
});

test("beyond maxQueuedRecords the oldest waiting batches are dropped and counted; the rest arrives once the log is back", async () => {
  const log = openLog();
  const f = flaky(log);
  f.state.failBefore = Infinity;
  const b = batcher(f.log, { maxBatch: 10, maxQueuedRecords: 30, maxDelayMs: 600_000 });
  for (let i = 0; i < 100; i++) b.push(outcome(i), Date.now());
  const during = b.stats();
  assert.ok(during.queuedRecords <= 30 + 10, `queued ${during.queuedRecords}`);
  assert.equal(during.droppedRecords + during.queuedRecords, 100);
  f.state.failBefore = 0;
  await b.flush();
  const s = b.stats();
  assert.equal(s.appendedRecords + s.droppedRecords, 100);
  assert.ok(s.droppedBatches >= 6);
  const ids = (await readAll(log)).flatMap((batch) => batch.outcomes.map((o) => o.requestId));
  assert.equal(ids.length, s.appendedRecords);
  assert.equal(ids[0], "req-0", "the batch being retried is kept");
  assert.equal(ids.at(-1), "req-99", "the newest batches are kept");
  await b.close();
  await log.close();
});

test("close appends the open batch; a log still away at the close deadline is given up on and counted", async () => {
  const log = openLog();
  const b = batcher(log, { maxDelayMs: 600_000 });
  for (let i = 0; i < 5; i++) b.push(outcome(i), Date.now());
  await b.close();
  assert.equal((await readAll(log))[0].outcomes.length, 5);
  b.push(outcome(6), Date.now());
  assert.equal(b.stats().droppedRecords, 1);

  const f = flaky(log);
  f.state.failBefore = Infinity;
  const stuck = batcher(f.log, { closeTimeoutMs: 30 });
  for (let i = 0; i < 7; i++) stuck.push(outcome(i), Date.now());
  await stuck.close();
  const s = stuck.stats();
  assert.equal(s.droppedRecords, 7);
  assert.equal(s.appendedRecords, 0);
  await log.close();
});

test("feedback shares the outcomes' batches: counted toward maxBatch, retried under the same id and stored once", async () => {
  const log = openLog();
  const f = flaky(log);
  f.state.failAfter = 1; // the first append lands but answers unavailable
  const b = batcher(f.log, { maxBatch: 4, maxDelayMs: 600_000 });
  const fb = (i: number) => ({
    experiment: "e1",
    phase: 1,
    arm: i % 2,
    unitHash: "abc",
    requestId: `req-${i}`,
    metric: "thumbs_up",
    value: i % 2,
    receivedAtMs: 1_800_000_000_000 + i,
  });
  b.push(outcome(0), 1_800_000_000_000);
  b.pushFeedback(fb(1));
  b.pushFeedback(fb(2));
  b.push(outcome(3), 1_800_000_000_003); // the 4th record seals the batch
  b.pushFeedback(fb(4));
  await b.flush();
  assert.deepEqual(f.attempts, ["p1:boot:1", "p1:boot:1", "p1:boot:2"]);
  const batches = await readAll(log);
  assert.equal(batches.length, 2, "the retried append is stored once");
  assert.deepEqual(
    batches[0].outcomes.map((o) => o.requestId),
    ["req-0", "req-3"],
  );
  assert.deepEqual(
    batches[0].feedback.map((x) => [x.requestId, x.arm, x.proxy]),
    [
      ["req-1", 1, "p1"],
      ["req-2", 0, "p1"],
    ],
  );
  assert.deepEqual([batches[1].outcomes.length, batches[1].feedback[0].requestId], [0, "req-4"]);
  assert.deepEqual([b.stats().appendedRecords, b.stats().queuedRecords], [5, 0]);
  await b.close();
  await log.close();
});
