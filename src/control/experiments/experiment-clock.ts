/**
 * The self-stop of experiments: one timer set to the earliest ends_at of a RUNNING experiment;
 * when it fires, every experiment past its end is stopped (end_reason "duration") and the
 * snapshot republished, then the timer is set again. `schedule()` runs at startup (so a restart
 * computes the end from the stored ends_at, stopping at once what ended while it was down) and
 * after every Start.
 */
import type { Logger } from "../../log.ts";
import type { ExperimentOperations } from "./experiment-operations.ts";

/** Options of {@link createExperimentClock}. */
export interface ExperimentClockOptions {
  ops: ExperimentOperations;
  logger: Logger;
  /** Clock in ms. Default `Date.now`. */
  nowMs?: () => number;
}

/** The running self-stop timer. */
export interface ExperimentClock {
  /** Re-reads the experiments and sets the timer (stopping at once what is already due). */
  schedule(): Promise<void>;
  close(): void;
}

/** Longest setTimeout delay Node accepts. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Creates the self-stop timer (call `schedule()` to arm it). */
export function createExperimentClock(options: ExperimentClockOptions): ExperimentClock {
  const nowMs = options.nowMs ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let run = Promise.resolve();

  async function tick(): Promise<void> {
    if (closed) return;
    const stopped = await options.ops.stopExpired();
    if (stopped.length > 0) options.logger.info({ experiments: stopped }, "experiments reached their duration and stopped");
    const next = await options.ops.nextEnd();
    clearTimeout(timer);
    timer = undefined;
    if (next === undefined || closed) return;
    timer = setTimeout(() => void schedule(), Math.min(MAX_DELAY_MS, Math.max(0, next - nowMs())));
    timer.unref?.();
  }

  function schedule(): Promise<void> {
    run = run.then(tick).catch((err: unknown) => {
      if (closed) return;
      options.logger.warn({ err: (err as Error).message }, "experiment self-stop failed; retrying in 1 s");
      clearTimeout(timer);
      timer = setTimeout(() => void schedule(), 1_000);
      timer.unref?.();
    });
    return run;
  }

  return {
    schedule,
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
