/**
 * Counts the errors a KvStore throws, by operation and error code, for the control plane's
 * Prometheus `/metrics` (`turnout_control_store_errors_total`). Wraps the store without changing
 * what it does; `aborted` (a lost compare-and-swap) is counted too, under its own code.
 */
import { TurnoutError } from "../../errors.ts";
import type { KvStore } from "../../transport/types.ts";

/** A store whose failures are counted. */
export interface CountedStore {
  /** The wrapped store; pass it on instead of the original. */
  readonly store: KvStore;
  /** Errors by `operation` ("get", "list", "put", "delete", "watch") and `code`. */
  errors(): { operation: string; code: string; count: number }[];
}

/** Wraps `store` so every thrown error is counted. */
export function countStoreErrors(store: KvStore): CountedStore {
  const counts = new Map<string, { operation: string; code: string; count: number }>();
  const note = (operation: string, err: unknown) => {
    const code = err instanceof TurnoutError ? err.code : "unknown";
    const key = `${operation}\u0000${code}`;
    const c = counts.get(key);
    if (c === undefined) counts.set(key, { operation, code, count: 1 });
    else c.count++;
  };
  async function counted<T>(operation: string, p: () => Promise<T>): Promise<T> {
    try {
      return await p();
    } catch (err) {
      note(operation, err);
      throw err;
    }
  }
  const wrapped: KvStore = {
    get: (key) => counted("get", () => store.get(key)),
    list: (prefix) => counted("list", () => store.list(prefix)),
    put: (key, value, expected) => counted("put", () => store.put(key, value, expected)),
    delete: (key, expected) => counted("delete", () => store.delete(key, expected)),
    async *watch(key, signal) {
      try {
        yield* store.watch(key, signal);
      } catch (err) {
        if (!signal.aborted) note("watch", err);
        throw err;
      }
    },
    close: () => store.close(),
  };
  return { store: wrapped, errors: () => [...counts.values()] };
}
