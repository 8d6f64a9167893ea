/**
 * Change notifications of one store key: a counter bumped on every write the key's watch
 * yields, and a wait for the next bump (or a timeout, or an abort). The rollout driver waits on
 * it so an operator's command written by any control plane wakes it at once.
 */
import { delay } from "../../delay.ts";
import type { Logger } from "../../log.ts";
import type { KvStore } from "../../transport/types.ts";

/** Changes of one key. */
export interface Changes {
  /** Writes seen so far. */
  version(): number;
  /** Resolves once `version()` exceeds `seen`, after `timeoutMs` (default: never), or on abort. */
  wait(seen: number, signal: AbortSignal, timeoutMs?: number): Promise<void>;
}

/** Watches `key` in `store` until `signal` aborts (re-watching after a failure). */
export function createChanges(store: KvStore, key: string, signal: AbortSignal, log: Logger): Changes {
  let version = 0;
  let waiters: (() => void)[] = [];
  const bump = () => {
    version++;
    const woken = waiters;
    waiters = [];
    for (const w of woken) w();
  };
  void (async () => {
    while (!signal.aborted) {
      try {
        for await (const _ of store.watch(key, signal)) bump();
      } catch (err) {
        if (!signal.aborted) log.warn({ err, key }, "watching the rollout failed; retrying");
      }
      await delay(1000, signal);
    }
  })();
  return {
    version: () => version,
    wait(seen, waitSignal, timeoutMs) {
      if (version > seen || waitSignal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const done = () => {
          if (timer !== undefined) clearTimeout(timer);
          waitSignal.removeEventListener("abort", done);
          resolve();
        };
        waiters.push(done);
        waitSignal.addEventListener("abort", done, { once: true });
        if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      });
    },
  };
}
