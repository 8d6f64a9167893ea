import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createOutcomeAggregator, type OutcomeAggregator } from "../../src/control/metrics/outcome-aggregator.ts";
import { startOutcomeConsumer, type OutcomeConsumer } from "../../src/control/metrics/outcome-consumer.ts";
import { RecentKeys } from "../../src/control/metrics/recent-keys.ts";
import { createLogger } from "../../src/log.ts";
import type { Outcome } from "../../src/proxy/outcome.ts";
import { encodeOutcomeBatch } from "../../src/proxy/outcomes/outcome-record.ts";
import { createFileOutcomeLog, type FileOutcomeLog } from "../../src/transport/memory/file-outcome-log.ts";
import { until } from "../support/until.ts";

const logger = createLogger({ level: "silent" });

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "turnout-consumer-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function outcome(i: number, variant = "stable"): Outcome {
  return {
    requestId: `r${i}`,
    snapshotVersion: 1,
    route: "chat",
    variant,
    arm: "",
    unitHash: "",
    node: "n1",
    status: "ok",
    httpStatus: 200,
    latencyMs: 20,
    ttftMs: 5,
    promptTokens: 1,
    completionTokens: 3,
    tokensPerSecond: 100,
  };
}

/** Appends `count` batches of `size` outcomes (request ids from `first`), ended at `atMs`. */
async function appendBatches(log: FileOutcomeLog, first: number, count: number, size: number, atMs = Date.now()): Promise<void> {
  for (let b = 0; b < count; b++) {
    const outcomes = Array.from({ length: size }, (_, i) => outcome(first + b * size + i, i % 2 === 0 ? "stable" : "small"));
    await log.append(
      `p1:boot:${first + b * size}`,
      encodeOutcomeBatch(
        "p1",
        outcomes,
        outcomes.map(() => atMs),
      ),
    );
  }
}

/** Resolves once `aggregator` has applied `n` records (polls: the aggregator has no event). */
async function counted(aggregator: OutcomeAggregator, n: number): Promise<void> {
  await until(
    () => `${n} records; counted ${aggregator.outcomesTotal()}`,
    () => aggregator.outcomesTotal() >= n,
    { timeoutMs: 10_000, intervalMs: 0 },
  );
}

function start(log: FileOutcomeLog): { aggregator: OutcomeAggregator; consumer: OutcomeConsumer } {
  const aggregator = createOutcomeAggregator();
  return { aggregator, consumer: startOutcomeConsumer({ log, consumerName: "control", aggregator, logger }) };
}

test("a restarted consumer rebuilds the window from what its previous run acked, then resumes: every record once", async (t) => {
  const dir = tempDir(t);
  const log = createFileOutcomeLog({ dir, fsync: false });
  await appendBatches(log, 0, 10, 20); // 200 records
  const first = start(log);
  await counted(first.aggregator, 200);
  await first.consumer.close();
  await appendBatches(log, 200, 5, 20); // 100 more while no consumer runs
  await log.close();

  const reopened = createFileOutcomeLog({ dir, fsync: false });
  t.after(() => reopened.close());
  const second = start(reopened);
  t.after(() => second.consumer.close());
  await second.consumer.rebuilt();
  assert.equal(second.consumer.replayedTotal(), 10, "the 10 entries the first run acked are replayed");
  await counted(second.aggregator, 300);
  await appendBatches(reopened, 300, 1, 20);
  await counted(second.aggregator, 320);
  const w = second.aggregator.window(3600, Date.now());
  assert.deepEqual(
    w.series.map((s) => [s.variant, s.requests]),
    [
      ["small", 160],
      ["stable", 160],
    ],
  );
  assert.equal(second.aggregator.duplicatesTotal(), 0);
  assert.equal(second.consumer.redeliveredTotal(), 0);
});

test("an entry applied but not acked by a crashed run is applied once by the next; records older than the horizon are not rebuilt", async (t) => {
  const dir = tempDir(t);
  const log = createFileOutcomeLog({ dir, fsync: false });
  await appendBatches(log, 0, 1, 10, Date.now() - 2 * 3600_000); // finished two hours ago
  await appendBatches(log, 10, 3, 10);
  // the "crashed" run: acks the first three entries, applies the fourth without acking it
  const ac = new AbortController();
  const it = log.consume("control", ac.signal)[Symbol.asyncIterator]();
  for (let i = 0; i < 4; i++) {
    const { value } = await it.next();
    if (i < 3) value!.ack();
  }
  ac.abort();
  await it.next();
  await log.close();

  const reopened = createFileOutcomeLog({ dir, fsync: false });
  t.after(() => reopened.close());
  const next = start(reopened);
  t.after(() => next.consumer.close());
  await next.consumer.rebuilt();
  assert.equal(next.aggregator.outcomesTotal(), 20, "entries 2 and 3 rebuilt; entry 1 is older than the hour");
  await counted(next.aggregator, 30);
  assert.equal(
    next.aggregator.window(3600, Date.now()).series.reduce((n, s) => n + s.requests, 0),
    30,
  );
});

test("recent keys stay bounded when a burst arrives within one generation (a rebuild)", () => {
  const keys = new RecentKeys({ maxKeys: 1000 });
  for (let i = 0; i < 10_000; i++) keys.add(`k${i}`, 1_000_000);
  assert.ok(keys.count <= 1250, `${keys.count} keys held`);
  assert.equal(keys.add("k9999", 1_000_000), false, "the newest are still remembered");
});
