/**
 * The write queue: admin writes run one at a time (read → validate → CAS-write), and the publishes
 * they ask for are debounced. A write that asks to publish releases the queue, and its publish
 * waits until the writes queued behind it have written too (or failed), so a burst of edits is
 * published as one snapshot without delaying a lone write. A publish never waits longer than
 * `maxBatchMs` for a steady stream of writes, and never runs twice at once.
 */
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";

/** Options of {@link createWriteQueue}. */
export interface WriteQueueOptions<R> {
  /** Compiles and publishes the stored state (see publish.ts); the queue never runs two at once. */
  publish: () => Promise<R>;
  /** Logs (debug) each write retried after a lost race. */
  logger: Logger;
  /** Longest a publish waits for the writes queued behind it, in ms. Default 500. */
  maxBatchMs?: number;
  /** Attempts of a write that loses a compare-and-swap to another writer before it asked to publish. Default 10. */
  writeAttempts?: number;
}

/** Serialised writes and debounced publishes. */
export interface WriteQueue<R> {
  /**
   * Runs `fn` after every earlier write of this process. A CAS lost to another control plane
   * (`aborted` before `fn` asked to publish) is re-run: `fn` re-reads, and a caller's stale
   * expected revision fails the same check again and is answered `aborted`. Rejects with
   * `unavailable` once the queue is closed.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Publishes the stored state once the current burst of writes has been written. Called inside
   * `exclusive`, it releases the queue to the next write first.
   */
  publish(): Promise<R>;
  /** Refuses new writes at once; resolves once the queued writes and their publishes have ended. */
  close(): Promise<void>;
}

/** The write in the queue's hold: lets the next write run, and counts this one as settled. */
interface Running {
  release(): void;
  settle(): void;
}

/** A publish asked for and not yet started. */
interface Waiting<R> {
  since: number;
  resolve(result: R): void;
  reject(err: unknown): void;
}

/** Creates a write queue over `options.publish`. */
export function createWriteQueue<R>(options: WriteQueueOptions<R>): WriteQueue<R> {
  const maxBatchMs = options.maxBatchMs ?? 500;
  const writeAttempts = options.writeAttempts ?? 10;
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  let unsettled = 0; // writes queued or running that have neither asked to publish nor ended
  let running: Running | undefined;
  let waiting: Waiting<R>[] = [];
  let publishing: Promise<void> | undefined;
  let batchTimer: NodeJS.Timeout | undefined;

  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new TurnoutError(ErrorCode.Unavailable, "the control plane is shutting down"));
    unsettled++;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      unsettled--;
      startPublish();
    };
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const run = chain.then(() => runWithRetries(fn, { release, settle }));
    const end = () => {
      if (running?.release === release) running = undefined;
      release();
      settle();
    };
    void run.then(end, end);
    chain = released;
    return run;
  }

  /** Runs `fn`, again after a race lost before it asked to publish (see `exclusive`). */
  async function runWithRetries<T>(fn: () => Promise<T>, self: Running): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      running = self;
      try {
        return await fn();
      } catch (err) {
        const lostRace = err instanceof TurnoutError && err.code === ErrorCode.Aborted && running?.release === self.release;
        if (!lostRace || attempt >= writeAttempts) throw err;
        options.logger.debug({ attempt, err: err.message }, "admin write lost a race; re-reading and retrying");
      }
    }
  }

  function publish(): Promise<R> {
    const result = new Promise<R>((resolve, reject) => waiting.push({ since: Date.now(), resolve, reject }));
    const current = running;
    running = undefined;
    current?.release();
    current?.settle();
    startPublish();
    return result;
  }

  /** Starts the waiting publishes as one, unless writes are still unsettled and the batch is young. */
  function startPublish(): void {
    if (publishing || waiting.length === 0) return;
    const waited = Date.now() - waiting[0].since;
    if (unsettled > 0 && waited < maxBatchMs) {
      batchTimer ??= setTimeout(() => {
        batchTimer = undefined;
        startPublish();
      }, maxBatchMs - waited);
      return;
    }
    clearTimeout(batchTimer);
    batchTimer = undefined;
    const batch = waiting;
    waiting = [];
    publishing = options
      .publish()
      .then(
        (r) => batch.forEach((w) => w.resolve(r)),
        (e: unknown) => batch.forEach((w) => w.reject(e)),
      )
      .finally(() => {
        publishing = undefined;
        startPublish();
      });
  }

  return {
    exclusive,
    publish,
    async close() {
      closed = true;
      await chain;
      while (publishing) await publishing;
    },
  };
}
