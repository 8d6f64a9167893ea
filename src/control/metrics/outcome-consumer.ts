/**
 * Reads the outcome log with a durable consumer and feeds the aggregator: log entries (binary
 * OutcomeBatch) in, applied records out — "rebuild, then resume":
 *
 * 1. Rebuild: the aggregator of a (re)started control plane is empty, but the previous run of the
 *    same durable consumer had applied and acked entries. `log.replay(consumer, now − horizon)`
 *    yields those acked entries (oldest first, the durable consumer untouched); their records
 *    that finished within the horizon are applied.
 * 2. Resume: `log.consume(consumer)` yields every entry not acked yet — new ones, and those the
 *    dead run applied but had not acked (its in-memory counts died with it, so applying them now
 *    counts them once). Each entry is acked right after its records are applied (nothing awaits
 *    in between), so a graceful stop leaves nothing applied but unacked.
 *
 * Exactness: replay covers the acked entries (NATS: up to the ack floor; acks are sent in log
 * order, see nats-outcome-log.ts for the one edge) and consume the unacked ones, so every entry
 * since the horizon is applied once by this process. Within the process, entries are deduplicated
 * by log seq (the last `seqWindow` applied seqs are remembered: a redelivery — a lost ack, a
 * consumer restarted after a NATS failure, an overlap of replay and consume — is acked and skipped;
 * an entry redelivered after newer ones, such as those a crashed run had pulled and that come back
 * after ack_wait, is still applied, which "skip seq ≤ highest" would get wrong). The aggregator's
 * record-key dedupe stays as the guard against a proxy's batch stored twice under two seqs.
 * When the log is unreachable the consumer retries (the rebuild, then consuming) with backoff.
 * A batch's feedback entries (`OutcomeBatch.feedback`) go to `onFeedback` the same way: each once
 * per run, those received within the horizon (for an experiment: since its outcomes' replay
 * start) replayed at startup.
 *
 * Experiments: records that carry an experiment also go to `options.experiments` (the report
 * tally), once each: in the metrics horizon only when the aggregator counted them (its record-key
 * dedupe decides), before it (a replay reaching back to an experiment's start) by log seq and the
 * same record key (a RecentKeys of the last million keys).
 * The rebuild then reaches back to `experiments.replayFromMs()` when that is earlier than the
 * metrics horizon, so a restarted control plane rebuilds every report it had.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { setTimeout as sleep } from "node:timers/promises";
import { OutcomeBatchSchema, type Feedback, type Outcome } from "../../../gen/turnout/v1/events_pb.js";
import type { Logger } from "../../log.ts";
import type { OutcomeLog } from "../../transport/types.ts";
import type { ExperimentRecord } from "../experiments/experiment-tally.ts";
import type { OutcomeAggregator, OutcomeRecord } from "./outcome-aggregator.ts";
import { RecentKeys } from "./recent-keys.ts";

/** Where outcomes counted in an experiment go (the experiment report tally). */
export interface ExperimentOutcomeSink {
  /** Counts one record (called once per record). */
  apply(record: ExperimentRecord): void;
  /**
   * Earliest finish time (epoch ms) the rebuild must reach back to for the experiments' reports;
   * undefined when none needs more than the metrics horizon. Awaited before the rebuild.
   */
  replayFromMs(): Promise<number | undefined>;
}

/** Options of {@link startOutcomeConsumer}. */
export interface OutcomeConsumerOptions {
  /** The outcome log proxies append to. */
  log: OutcomeLog;
  /** Durable consumer name; one per control plane so each sees every outcome. */
  consumerName: string;
  aggregator: OutcomeAggregator;
  logger: Logger;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Longest pause between attempts to consume again after a failure, in ms. Default 2000. */
  maxRetryDelayMs?: number;
  /**
   * How far back the rebuild reaches, in ms: records that finished this recently, in entries the
   * previous run of the consumer acked, are replayed before consuming. 0 skips the rebuild.
   * Default 3600000 (the aggregator's default horizon).
   */
  replayMs?: number;
  /** How many applied log seqs are remembered to skip redeliveries. Default 100000. */
  seqWindow?: number;
  /** Receives each feedback entry of the applied batches (its `proxy` filled from the batch when empty). Default: none. */
  onFeedback?: (feedback: Feedback) => void;
  /** Also feed outcomes counted in an experiment here. Default: none. */
  experiments?: ExperimentOutcomeSink;
}

/** The experiment tally's view of a decoded Outcome. */
function experimentRecordOf(o: Outcome): ExperimentRecord {
  return {
    experiment: o.experiment,
    phase: o.experimentPhase,
    arm: o.experimentArm,
    // the unit's 32-bit hash (as feedback names it); the bucket for records written before it existed
    unitHash: o.experimentUnit !== 0 ? o.experimentUnit : o.unitHash,
    status: o.status,
    latencyMs: o.latencyMs,
    ttftMs: o.ttftMs,
    completionTokens: o.completionTokens,
    tokensPerSecond: o.tokensPerSecond,
  };
}

/** A running consumer. */
export interface OutcomeConsumer {
  /** Log entries acked. */
  entriesTotal(): number;
  /** Log entries applied by the rebuild (replayed). */
  replayedTotal(): number;
  /** Redelivered log entries skipped (their seq was applied already). */
  redeliveredTotal(): number;
  /** Resolves once the rebuild is over (or the consumer closed). */
  rebuilt(): Promise<void>;
  /** Entries that did not decode (acked and skipped). */
  malformedTotal(): number;
  /** Times consuming failed and was retried. */
  errorsTotal(): number;
  /** Stops after the entry being applied (it is acked first). */
  close(): Promise<void>;
}

/** The aggregator's view of a decoded Outcome. */
function outcomeRecordOf(o: Outcome, proxy: string): OutcomeRecord {
  const at = o.finishedAt;
  return {
    requestId: o.requestId,
    proxy: o.proxy || proxy,
    route: o.route,
    variant: o.variant,
    status: o.status,
    httpStatus: o.httpStatus,
    latencyMs: o.latencyMs,
    ttftMs: o.ttftMs,
    completionTokens: o.completionTokens,
    tokensPerSecond: o.tokensPerSecond,
    finishedAtMs: at === undefined ? 0 : Number(at.seconds) * 1000 + at.nanos / 1e6,
  };
}

/** Log seqs applied lately: a bounded set, the oldest forgotten first. */
class AppliedSeqs {
  private readonly seqs = new Set<number>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  has(seq: number): boolean {
    return this.seqs.has(seq);
  }
  add(seq: number): void {
    this.seqs.add(seq);
    if (this.seqs.size > this.max) this.seqs.delete(this.seqs.values().next().value as number);
  }
}

/** The log may yield entries somewhat older than asked; this much earlier is asked for, in ms, so a proxy's late batch or clock skew loses nothing. */
const REPLAY_SLACK_MS = 60_000;

/** Starts consuming `options.log` as `options.consumerName`: rebuild, then resume (see the file comment). */
export function startOutcomeConsumer(options: OutcomeConsumerOptions): OutcomeConsumer {
  const log = options.logger.child({ component: "outcome-consumer" });
  const now = options.now ?? Date.now;
  const maxDelay = options.maxRetryDelayMs ?? 2000;
  const replayMs = options.replayMs ?? 3600_000;
  const name = options.consumerName;
  const applied = new AppliedSeqs(options.seqWindow ?? 100_000);
  const experimentKeys = new RecentKeys();
  const controller = new AbortController();
  const signal = controller.signal;
  let entries = 0;
  let replayed = 0;
  let redelivered = 0;
  let malformed = 0;
  let errors = 0;
  let delay = 100;
  let rebuildDone!: () => void;
  const rebuilt = new Promise<void>((resolve) => (rebuildDone = resolve));

  /**
   * Applies one entry's records: to the aggregator those finished at or after `sinceMs`, to the
   * experiments those the aggregator counted and, before `sinceMs`, those finished at or after
   * `experimentsSinceMs`; false for a redelivery.
   */
  function apply(seq: number, data: Uint8Array, sinceMs: number, experimentsSinceMs = Infinity): boolean {
    if (applied.has(seq)) {
      redelivered++;
      return false;
    }
    applied.add(seq);
    let batch;
    try {
      batch = fromBinary(OutcomeBatchSchema, data);
    } catch (err) {
      malformed++;
      log.warn({ seq, err: (err as Error).message }, "skipped an outcome log entry that is not an OutcomeBatch");
      return true;
    }
    const t = now();
    for (const o of batch.outcomes) {
      const record = outcomeRecordOf(o, batch.proxy);
      // before the metrics horizon the aggregator does not see the record: the experiments'
      // own key dedupe (the same key) stands in for its dedupe; the slack covers proxy clock skew
      const counted =
        record.finishedAtMs >= sinceMs
          ? options.aggregator.apply(record, t)
          : record.finishedAtMs >= experimentsSinceMs - REPLAY_SLACK_MS &&
            o.experiment !== "" &&
            experimentKeys.add(`${record.proxy}\u0000${record.requestId}\u0000${record.finishedAtMs}`, t);
      if (counted && o.experiment !== "" && options.experiments !== undefined) options.experiments.apply(experimentRecordOf(o));
    }
    const onFeedback = options.onFeedback;
    if (onFeedback !== undefined) {
      for (const f of batch.feedback) {
        const at = f.receivedAt;
        const receivedAtMs = at === undefined ? 0 : Number(at.seconds) * 1000 + at.nanos / 1e6;
        // feedback for an experiment reaches back as far as its outcomes do (the report needs both)
        if (receivedAtMs < sinceMs && (f.experiment === "" || receivedAtMs < experimentsSinceMs - REPLAY_SLACK_MS)) continue;
        if (f.proxy === "") f.proxy = batch.proxy;
        onFeedback(f);
      }
    }
    return true;
  }

  /** Runs `attempt` until it completes, retrying with backoff; false when closed first. */
  async function withRetries(what: string, attempt: () => Promise<void>): Promise<boolean> {
    while (!signal.aborted) {
      try {
        await attempt();
        return !signal.aborted;
      } catch (err) {
        if (signal.aborted) return false;
        errors++;
        log.warn({ err: (err as Error).message, retryInMs: delay }, `${what} failed; retrying`);
      }
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        return false;
      }
      delay = Math.min(delay * 2, maxDelay);
    }
    return false;
  }

  async function run(): Promise<void> {
    // 1. Rebuild what the previous run of this consumer had applied and acked.
    let experimentsSinceMs = Infinity;
    if (options.experiments !== undefined) {
      const ok = await withRetries("reading experiments to replay", async () => {
        experimentsSinceMs = (await options.experiments!.replayFromMs()) ?? Infinity;
      });
      if (!ok) return rebuildDone();
    }
    if (replayMs > 0 || experimentsSinceMs !== Infinity) {
      const started = now();
      const sinceMs = replayMs > 0 ? started - replayMs : Infinity;
      const fromMs = Math.min(sinceMs, experimentsSinceMs);
      const ok = await withRetries("replaying outcomes", async () => {
        for await (const entry of options.log.replay(name, fromMs - REPLAY_SLACK_MS, signal)) {
          if (apply(entry.seq, entry.data, sinceMs, experimentsSinceMs)) replayed++;
          delay = 100;
        }
      });
      rebuildDone();
      if (!ok) return;
      log.info(
        { consumer: name, entries: replayed, outcomes: options.aggregator.outcomesTotal(), ms: now() - started },
        "metrics rebuilt from the outcome log",
      );
    }
    rebuildDone();
    // 2. Resume the durable consumer: everything not acked yet.
    await withRetries("consuming outcomes", async () => {
      for await (const entry of options.log.consume(name, signal)) {
        apply(entry.seq, entry.data, -Infinity);
        entry.ack();
        entries++;
        delay = 100;
      }
      if (!signal.aborted) throw new Error("the outcome log ended the consumer");
    });
  }

  const running = run();
  log.info({ consumer: name }, "consuming outcomes");
  return {
    entriesTotal: () => entries,
    replayedTotal: () => replayed,
    redeliveredTotal: () => redelivered,
    rebuilt: () => rebuilt,
    malformedTotal: () => malformed,
    errorsTotal: () => errors,
    async close() {
      controller.abort();
      rebuildDone();
      await running;
    },
  };
}
