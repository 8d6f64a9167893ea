import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createExperimentTally } from "../../src/control/experiments/experiment-tally.ts";
import { createOutcomeAggregator } from "../../src/control/metrics/outcome-aggregator.ts";
import { startOutcomeConsumer } from "../../src/control/metrics/outcome-consumer.ts";
import { createLogger } from "../../src/log.ts";
import type { Outcome } from "../../src/proxy/outcome.ts";
import { encodeOutcomeBatch } from "../../src/proxy/outcomes/outcome-record.ts";
import { createFileOutcomeLog } from "../../src/transport/memory/file-outcome-log.ts";
import { until } from "../support/until.ts";

const logger = createLogger({ level: "silent" });
const HOUR = 3600_000;

function outcome(i: number, experiment: string): Outcome {
  return {
    requestId: `r${i}`,
    snapshotVersion: 1,
    route: "chat",
    variant: i % 2 ? "b" : "a",
    arm: "",
    unitHash: "",
    bucket: i,
    armIndex: i % 2,
    experiment,
    experimentPhase: 0,
    node: "n1",
    status: "ok",
    httpStatus: 200,
    latencyMs: 20 + i,
    ttftMs: 5,
    promptTokens: 1,
    completionTokens: 3,
    tokensPerSecond: 100,
  };
}

test("a restarted consumer replays an experiment's outcomes from its start, beyond the metrics horizon, and counts each once", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "turnout-exp-replay-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = createFileOutcomeLog({ dir, fsync: false, keepAckedMs: 7 * 24 * HOUR });
  t.after(() => log.close());
  const now = Date.now();
  // 20 outcomes that finished 2 h ago (before the 1 h metrics horizon) and 6 a second ago
  const old = Array.from({ length: 20 }, (_, i) => outcome(i, "ab"));
  await log.append(
    "p1:1",
    encodeOutcomeBatch(
      "p1",
      old,
      old.map(() => now - 2 * HOUR),
    ),
  );
  // the same batch stored again under another id (a proxy's retried append): counted once
  await log.append(
    "p1:1-again",
    encodeOutcomeBatch(
      "p1",
      old,
      old.map(() => now - 2 * HOUR),
    ),
  );
  const fresh = Array.from({ length: 6 }, (_, i) => outcome(100 + i, "ab"));
  await log.append(
    "p1:2",
    encodeOutcomeBatch(
      "p1",
      fresh,
      fresh.map(() => now - 1000),
    ),
  );

  const run = (replayFromMs: number | undefined) => {
    const aggregator = createOutcomeAggregator();
    const tally = createExperimentTally();
    const consumer = startOutcomeConsumer({
      log,
      consumerName: "control",
      aggregator,
      logger,
      experiments: { apply: (r) => tally.apply(r), replayFromMs: async () => replayFromMs },
    });
    return { aggregator, tally, consumer };
  };
  const first = run(now - 3 * HOUR);
  await until("the consumer to count 3 entries", () => first.consumer.entriesTotal() === 3);
  assert.equal(first.tally.get("ab")!.outcomes, 26, "the live consumer counts every outcome");
  const before = JSON.stringify([...first.tally.get("ab")!.arms].map(([i, a]) => [i, [...a.units]]));
  await first.consumer.close();

  const second = run(now - 3 * HOUR);
  await second.consumer.rebuilt();
  assert.equal(second.aggregator.outcomesTotal(), 6, "metrics rebuild only their hour");
  assert.equal(second.tally.get("ab")!.outcomes, 26, "the experiment is rebuilt from its start");
  assert.equal(
    JSON.stringify([...second.tally.get("ab")!.arms].map(([i, a]) => [i, [...a.units]])),
    before,
    "same totals per unit",
  );
  await second.consumer.close();

  const third = run(undefined);
  await third.consumer.rebuilt();
  assert.equal(third.tally.get("ab")!.outcomes, 6, "without an experiment start only the metrics hour is replayed");
  await third.consumer.close();
});
