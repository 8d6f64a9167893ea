/**
 * Reads the outcome log with a durable consumer and feeds the aggregator: log entries (binary
 * OutcomeBatch) in, applied records out. Each entry is acked right after its records are applied
 * (nothing awaits in between), so stopping between entries leaves nothing applied but unacked; a
 * crash between apply and ack is covered by the aggregator's dedupe within the process and, across
 * processes, means the entry is delivered to the next consumer (documented at-least-once edge).
 * When the log is unreachable the consumer retries with backoff until closed.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { setTimeout as sleep } from "node:timers/promises";
import { OutcomeBatchSchema, type Outcome } from "../../../gen/turnout/v1/events_pb.js";
import type { Logger } from "../../log.ts";
import type { OutcomeLog } from "../../transport/types.ts";
import type { OutcomeAggregator, OutcomeRecord } from "./outcome-aggregator.ts";

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
}

/** A running consumer. */
export interface OutcomeConsumer {
  /** Log entries acked. */
  entriesTotal(): number;
  /** Entries that did not decode (acked and skipped). */
  malformedTotal(): number;
  /** Times consuming failed and was retried. */
  errorsTotal(): number;
  /** Stops after the entry being applied (it is acked first). */
  close(): Promise<void>;
}

/** The aggregator's view of a decoded Outcome. */
export function outcomeRecordOf(o: Outcome, proxy: string): OutcomeRecord {
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

/** Starts consuming `options.log` as `options.consumerName`. */
export function startOutcomeConsumer(options: OutcomeConsumerOptions): OutcomeConsumer {
  const log = options.logger.child({ component: "outcome-consumer" });
  const now = options.now ?? Date.now;
  const maxDelay = options.maxRetryDelayMs ?? 2000;
  const controller = new AbortController();
  const signal = controller.signal;
  let entries = 0;
  let malformed = 0;
  let errors = 0;

  async function run(): Promise<void> {
    let delay = 100;
    while (!signal.aborted) {
      try {
        for await (const entry of options.log.consume(options.consumerName, signal)) {
          let batch;
          try {
            batch = fromBinary(OutcomeBatchSchema, entry.data);
          } catch (err) {
            malformed++;
            log.warn({ seq: entry.seq, err: (err as Error).message }, "skipped an outcome log entry that is not an OutcomeBatch");
          }
          if (batch !== undefined) {
            const t = now();
            for (const o of batch.outcomes) options.aggregator.apply(outcomeRecordOf(o, batch.proxy), t);
          }
          entry.ack();
          entries++;
          delay = 100;
        }
        if (signal.aborted) return;
        throw new Error("the outcome log ended the consumer");
      } catch (err) {
        if (signal.aborted) return;
        errors++;
        log.warn({ err: (err as Error).message, retryInMs: delay }, "consuming outcomes failed; retrying");
      }
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        return;
      }
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  const running = run();
  log.info({ consumer: options.consumerName }, "consuming outcomes");
  return {
    entriesTotal: () => entries,
    malformedTotal: () => malformed,
    errorsTotal: () => errors,
    async close() {
      controller.abort();
      await running;
    },
  };
}
