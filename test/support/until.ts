/**
 * Waiting in tests for a condition that has no event to wait on: the one polling helper every
 * test uses. Poll the real condition (a count, a metric line, a state read over the API), never
 * sleep for a guessed time. To wait for a message on a stream, read the stream instead.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** Options of {@link until}. */
export interface UntilOptions {
  /** How long to wait before failing, in ms. Default 15000. */
  timeoutMs?: number;
  /** Pause between two checks, in ms (0 = the next macrotask). Default 10. */
  intervalMs?: number;
}

/** A value `until` keeps waiting on. */
type Falsy = false | 0 | "" | null | undefined;

/**
 * Calls `condition` (sync or async) until it answers a truthy value, and answers that value.
 * Throws `timed out after <timeoutMs> ms waiting for <what>` once `timeoutMs` has passed without
 * one; `what` may be a function, called then, to say what was seen instead. An error thrown by
 * `condition` fails the wait at once.
 *
 * ```ts
 * await until("both proxies to report synced", async () => (await fleet.list()).every(isSynced));
 * const row = await until("the report to count 10 outcomes", () => report().find((r) => r.outcomes >= 10), { timeoutMs: 20_000 });
 * ```
 */
export async function until<T>(
  what: string | (() => string),
  condition: () => T | Promise<T>,
  options: UntilOptions = {},
): Promise<Exclude<T, Falsy>> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Exclude<T, Falsy>;
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    }
    await sleep(intervalMs);
  }
}
