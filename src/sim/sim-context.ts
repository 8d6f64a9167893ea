/**
 * The state one simulated node shares between its routes: knobs, scheduler, fault PRNG, model
 * catalog, counters and event waiters.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { FaultInjector } from "./faults.ts";
import type { CatalogEntry } from "./model-catalog.ts";
import type { ModelRuntime } from "./model-runtime.ts";
import type { SimulatorKnobs } from "./options.ts";

/** Counters of one node. */
export interface SimulatorStats {
  /** Inference requests received (chat, generate, embed, their `/v1` forms, loads, unloads). */
  requests: number;
  /** Inference requests accepted and not finished yet (waiting ones included). */
  inFlight: number;
  /** Inference requests per model name (known models only). */
  byModel: Record<string, number>;
  /** Completed model loads. */
  loads: number;
  /** Model unloads (keep-alive expiry or `keep_alive:0`). */
  unloads: number;
  /** Requests answered 503 because the load queue was full. */
  busy: number;
  /** Injected failures (500 before the first byte, and mid-stream errors). */
  injectedErrors: number;
  /** Requests whose client went away before the answer was complete. */
  aborted: number;
}

/** What can be awaited with `Simulator.waitFor`. */
export type SimEvent =
  | { type: "load"; model: string }
  | { type: "unload"; model: string }
  /** A successful answer's headers (and first bytes) were written. */
  | { type: "headers"; model: string; path: string }
  /** An inference request's body was read: what it asked for (model, Ollama options, keep_alive) and the headers it came with. */
  | {
      type: "request";
      path: string;
      model: unknown;
      options: Record<string, unknown>;
      keepAlive: unknown;
      headers: IncomingHttpHeaders;
    }
  /** An inference request finished (answered, failed or aborted). */
  | { type: "request-end"; model: string; path: string; status: number };

interface Waiter {
  type: SimEvent["type"];
  match: ((e: SimEvent) => boolean) | undefined;
  resolve(e: SimEvent): void;
}

/** Shared state of one node. */
export class SimContext {
  readonly knobs: SimulatorKnobs;
  defaultKeepAliveMs: number;
  runtime!: ModelRuntime;
  readonly faults: FaultInjector;
  readonly catalog: Map<string, CatalogEntry>;
  readonly version: string;
  readonly counters = { requests: 0, inFlight: 0, busy: 0, injectedErrors: 0, aborted: 0 };
  readonly byModel: Record<string, number> = {};
  #nextId = 0;
  readonly #idPrefix: string;
  #waiters: Waiter[] = [];
  #listeners: ((e: SimEvent) => void)[] = [];

  constructor(init: {
    knobs: SimulatorKnobs;
    defaultKeepAliveMs: number;
    faults: FaultInjector;
    catalog: Map<string, CatalogEntry>;
    version: string;
  }) {
    this.knobs = init.knobs;
    this.defaultKeepAliveMs = init.defaultKeepAliveMs;
    this.faults = init.faults;
    this.catalog = init.catalog;
    this.version = init.version;
    this.#idPrefix = Math.floor(Math.random() * 36 ** 4).toString(36);
    for (const name of init.catalog.keys()) this.byModel[name] = 0;
  }

  /** A response id unique within this process run, e.g. `chatcmpl-k3f9-12`. */
  nextId(prefix: string): string {
    return `${prefix}-${this.#idPrefix}${(++this.#nextId).toString(36)}`;
  }

  /** Resolves the waiters this event matches. Costs nothing when nobody waits. */
  emit(event: SimEvent): void {
    for (const l of this.#listeners) l(event);
    if (this.#waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.type === event.type && (w.match === undefined || w.match(event))) w.resolve(event);
      else keep.push(w);
    }
    this.#waiters = keep;
  }

  /** The next event of `type` that `match` accepts. */
  waitFor(type: SimEvent["type"], match?: (e: SimEvent) => boolean, signal?: AbortSignal): Promise<SimEvent> {
    return new Promise((resolve, reject) => {
      signal?.throwIfAborted();
      const w: Waiter = { type, match, resolve };
      if (signal) {
        const onAbort = () => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        w.resolve = (e) => {
          signal.removeEventListener("abort", onAbort);
          resolve(e);
        };
      }
      this.#waiters.push(w);
    });
  }

  /** Calls `listener` with every event until the returned function is called. */
  subscribe(listener: (e: SimEvent) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** A snapshot of the counters. */
  stats(): SimulatorStats {
    return {
      requests: this.counters.requests,
      inFlight: this.counters.inFlight,
      byModel: { ...this.byModel },
      loads: this.runtime.loads,
      unloads: this.runtime.unloads,
      busy: this.counters.busy,
      injectedErrors: this.counters.injectedErrors,
      aborted: this.counters.aborted,
    };
  }
}
