/**
 * Batches the proxy's outcomes (and accepted feedback, in the same batches: a feedback entry counts
 * as a record like an outcome) into the outcome log. Recording is a push onto an array; a batch
 * is sealed at `maxBatch` records or `maxDelayMs` after its first record (one timer per batch,
 * none per request), encoded once as a binary OutcomeBatch and appended with the id
 * `<proxyId>:<bootId>:<batchSeq>`. Batches are appended one at a time, in order. When the log is
 * unavailable the head batch is retried with exponential backoff under the same id, so a retry of
 * an append that did land is deduplicated by the log. Memory is bounded: beyond `maxQueuedRecords`
 * waiting records the oldest waiting batch is dropped and counted. `close()` seals and appends
 * what is left, giving up (and counting the loss) after `closeTimeoutMs`.
 */
import { randomBytes } from "node:crypto";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { OutcomeLog } from "../../transport/types.ts";
import type { FeedbackEntry } from "../feedback/accept-feedback.ts";
import type { Outcome } from "../outcome.ts";
import { encodeOutcomeBatch } from "./outcome-record.ts";

/** Options of {@link createOutcomeBatcher}. */
export interface OutcomeBatcherOptions {
  /** Where batches go. */
  log: OutcomeLog;
  /** Proxy id, put in every batch and batch id. */
  proxyId: string;
  logger: Logger;
  /** Distinguishes this run of the proxy in batch ids. Default: random 8 hex digits + start time. */
  bootId?: string;
  /** Records per batch at most (sealed at once when reached). Default 100. */
  maxBatch?: number;
  /** Longest a record waits for its batch to fill, in ms. Default 200. */
  maxDelayMs?: number;
  /** Most records waiting to be appended; beyond, the oldest waiting batch is dropped. Default 200000. */
  maxQueuedRecords?: number;
  /** First retry delay after a failed append, in ms (doubles each time). Default 50. */
  retryDelayMs?: number;
  /** Longest retry delay, in ms. Default 2000. */
  maxRetryDelayMs?: number;
  /** How long `close` keeps trying to append what is left, in ms. Default 5000. */
  closeTimeoutMs?: number;
}

/** Counters of a batcher. */
export interface OutcomeBatcherStats {
  /** Batches appended (a deduplicated retry counts once). */
  appendedBatches: number;
  appendedRecords: number;
  /** Batches dropped (queue full, append rejected for good, or still unsent at close). */
  droppedBatches: number;
  droppedRecords: number;
  /** Records recorded but not yet appended. */
  queuedRecords: number;
  /** Failed append attempts that were retried. */
  retries: number;
}

/** A running batcher. */
export interface OutcomeBatcher {
  /** Records one outcome that ended at `finishedAtMs` (epoch ms). Cheap; never throws. */
  push(outcome: Outcome, finishedAtMs: number): void;
  /** Records one accepted piece of feedback (an `OutcomeBatch.feedback` entry). Cheap; never throws. */
  pushFeedback(feedback: FeedbackEntry): void;
  /** Seals the open batch and resolves once every sealed batch is appended or dropped. */
  flush(): Promise<void>;
  stats(): OutcomeBatcherStats;
  /** Flushes (up to `closeTimeoutMs`), then drops whatever is left; later pushes are dropped. */
  close(): Promise<void>;
}

interface Batch {
  id: string;
  data: Uint8Array;
  records: number;
}

/** Whether a failed append is worth retrying (the log is away, or failed in a way we do not know). */
function retryable(err: unknown): boolean {
  return !(err instanceof TurnoutError) || err.code === ErrorCode.Unavailable || err.code === ErrorCode.DeadlineExceeded;
}

/** Starts a batcher over `options.log`. */
export function createOutcomeBatcher(options: OutcomeBatcherOptions): OutcomeBatcher {
  const log = options.logger.child({ component: "outcome-batcher" });
  const { proxyId } = options;
  const bootId = options.bootId ?? `${Date.now().toString(36)}${randomBytes(4).toString("hex")}`;
  const maxBatch = options.maxBatch ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 200;
  const maxQueued = options.maxQueuedRecords ?? 200_000;
  const firstDelay = options.retryDelayMs ?? 50;
  const maxDelay = options.maxRetryDelayMs ?? 2000;
  const stats: OutcomeBatcherStats = {
    appendedBatches: 0,
    appendedRecords: 0,
    droppedBatches: 0,
    droppedRecords: 0,
    queuedRecords: 0,
    retries: 0,
  };

  let outcomes: Outcome[] = [];
  let endedAt: number[] = [];
  let feedback: FeedbackEntry[] = [];
  let timer: NodeJS.Timeout | undefined;
  let seq = 0;
  const queue: Batch[] = [];
  let sending = false;
  let closed = false;
  let givenUp = false;
  let idle: (() => void)[] = [];
  let wake: (() => void) | undefined;

  function seal(): void {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    const records = outcomes.length + feedback.length;
    if (records === 0) return;
    const data = encodeOutcomeBatch(proxyId, outcomes, endedAt, feedback);
    queue.push({ id: `${proxyId}:${bootId}:${++seq}`, data, records });
    outcomes = [];
    endedAt = [];
    feedback = [];
    // Over the cap: drop the oldest batch that is not being appended right now.
    while (stats.queuedRecords > maxQueued && queue.length > (sending ? 1 : 0)) {
      const dropped = queue.splice(sending ? 1 : 0, 1)[0];
      drop(dropped, "the outcome queue is full");
    }
    void pump();
  }

  function drop(batch: Batch, reason: string): void {
    stats.droppedBatches++;
    stats.droppedRecords += batch.records;
    stats.queuedRecords -= batch.records;
    log.warn({ batch: batch.id, records: batch.records, reason }, "dropped an outcome batch");
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      t.unref();
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        resolve();
      };
    });
  }

  async function pump(): Promise<void> {
    if (sending) return;
    sending = true;
    let delay = firstDelay;
    while (queue.length > 0 && !givenUp) {
      const head = queue[0];
      try {
        await options.log.append(head.id, head.data);
        if (queue[0] !== head) continue; // dropped by close() while the append was under way
        queue.shift();
        stats.appendedBatches++;
        stats.appendedRecords += head.records;
        stats.queuedRecords -= head.records;
        delay = firstDelay;
      } catch (err) {
        if (queue[0] !== head) continue;
        if (!retryable(err)) {
          queue.shift();
          drop(head, (err as Error).message);
          continue;
        }
        stats.retries++;
        if (stats.retries === 1 || delay === maxDelay)
          log.warn(
            { err: (err as Error).message, retryInMs: delay, queued: stats.queuedRecords },
            "appending outcomes failed; retrying",
          );
        await pause(delay);
        delay = Math.min(delay * 2, maxDelay);
      }
    }
    sending = false;
    const waiters = idle;
    idle = [];
    for (const w of waiters) w();
  }

  function flush(): Promise<void> {
    seal();
    if (queue.length === 0 && !sending) return Promise.resolve();
    return new Promise((resolve) => idle.push(resolve));
  }

  /** Counts one record pushed; seals at `maxBatch`, else arms the batch's timer. */
  function pushed(): void {
    stats.queuedRecords++;
    if (outcomes.length + feedback.length >= maxBatch) seal();
    else if (timer === undefined) {
      timer = setTimeout(seal, maxDelayMs);
      timer.unref();
    }
  }

  return {
    push(outcome, finishedAtMs) {
      if (closed) {
        stats.droppedRecords++;
        return;
      }
      outcomes.push(outcome);
      endedAt.push(finishedAtMs);
      pushed();
    },
    pushFeedback(entry) {
      if (closed) {
        stats.droppedRecords++;
        return;
      }
      feedback.push(entry);
      pushed();
    },
    flush,
    stats: () => ({ ...stats }),
    async close() {
      if (closed) return;
      closed = true;
      let deadline: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        deadline = setTimeout(() => resolve(true), options.closeTimeoutMs ?? 5000);
      });
      const done = await Promise.race([flush().then(() => false), timedOut]);
      clearTimeout(deadline);
      if (!done) return;
      // Still failing at the deadline: stop retrying and count what is left as lost.
      givenUp = true;
      wake?.();
      for (const b of queue.splice(0)) drop(b, "still not appended when the proxy closed");
    },
  };
}
