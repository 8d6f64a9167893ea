/** Waiting that an AbortSignal can cut short. */
import { setTimeout as wait } from "node:timers/promises";

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return wait(ms, undefined, { signal }).catch(() => undefined);
}
