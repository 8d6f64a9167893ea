/**
 * Ollama's scheduler, simulated: cold loads, residency, parallel slots per model, the bounded
 * queue of requests waiting for a load, and keep-alive expiry after a model's last request.
 */
import { FOREVER, type SimulatorKnobs } from "./options.ts";

/** A request waiting for a slot. The runtime calls exactly one of the two methods, once. */
export interface SlotWaiter {
  /** A slot is held for this request; call `release(model)` when done. */
  granted(): void;
  /** The load queue is full (Ollama's 503). */
  rejected(): void;
}

/** Something that happened to a model, for `Simulator.waitFor`. */
export interface ModelEvent {
  type: "load" | "unload";
  model: string;
}

/** What `/api/ps` shows of a resident model. */
export interface ResidentModel {
  name: string;
  /** When the model unloads, ms since the epoch. */
  expiresAt: number;
}

/** Options of {@link ModelRuntime}. */
export interface ModelRuntimeOptions {
  /** The live knobs, read at each decision so `setFaults` applies at once. */
  knobs: Readonly<Pick<SimulatorKnobs, "parallel" | "maxQueue" | "loadMs">>;
  /** The live default keep-alive in ms (or FOREVER). */
  defaultKeepAliveMs(): number;
  /** Called for each load and unload. */
  onEvent(event: ModelEvent): void;
}

const MAX_TIMER_MS = 2_147_483_647;

/** About 292 years, what Go shows for a negative (forever) keep-alive. */
const FOREVER_SPAN_MS = 9_223_372_036_854;

class ModelState {
  readonly name: string;
  status: "unloaded" | "loading" | "loaded" = "unloaded";
  active = 0;
  /** Waiting for a free slot of the loaded model. */
  slotQueue: SlotWaiter[] = [];
  /** Waiting for the load to finish (counted against maxQueue). */
  loadQueue: SlotWaiter[] = [];
  keepAliveMs: number | undefined;
  loadTimer: NodeJS.Timeout | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  expiresAt = 0;
  pumping = false;

  constructor(name: string) {
    this.name = name;
  }
}

/** The per-node scheduler state of every model the node serves. */
export class ModelRuntime {
  readonly #models = new Map<string, ModelState>();
  readonly #options: ModelRuntimeOptions;
  #pendingLoads = 0;
  loads = 0;
  unloads = 0;

  constructor(models: readonly string[], options: ModelRuntimeOptions) {
    for (const name of models) this.#models.set(name, new ModelState(name));
    this.#options = options;
  }

  /**
   * Asks for a slot on `model`. Grants at once (synchronously) when the model is loaded and a
   * slot is free; otherwise queues, loading the model if it is cold. `keepAlive` (ms or
   * FOREVER; undefined = the default) becomes the model's keep-alive, as in Ollama, where every
   * request sets the session duration.
   */
  acquire(model: string, keepAlive: number | undefined, waiter: SlotWaiter): void {
    const m = this.#state(model);
    m.keepAliveMs = keepAlive;
    if (m.status === "loaded") {
      this.#clearExpiry(m);
      if (m.active < this.#options.knobs.parallel) {
        m.active++;
        waiter.granted();
      } else {
        m.slotQueue.push(waiter);
      }
      return;
    }
    if (this.#pendingLoads >= this.#options.knobs.maxQueue) {
      waiter.rejected();
      return;
    }
    this.#pendingLoads++;
    m.loadQueue.push(waiter);
    if (m.status === "unloaded") this.#startLoad(m);
  }

  /** Withdraws a waiter that has not been granted (its client went away). Aborts a load nobody
   * waits for any more. */
  cancel(model: string, waiter: SlotWaiter): void {
    const m = this.#state(model);
    let i = m.loadQueue.indexOf(waiter);
    if (i >= 0) {
      m.loadQueue.splice(i, 1);
      this.#pendingLoads--;
      if (m.loadQueue.length === 0 && m.status === "loading") {
        clearTimeout(m.loadTimer);
        m.loadTimer = undefined;
        m.status = "unloaded";
      }
      return;
    }
    i = m.slotQueue.indexOf(waiter);
    if (i >= 0) m.slotQueue.splice(i, 1);
  }

  /** Frees a slot; the next waiter gets it, or the keep-alive countdown starts. */
  release(model: string): void {
    const m = this.#state(model);
    m.active--;
    this.#pump(m);
  }

  /** Ollama's `keep_alive: 0` with an empty prompt: unload once idle (in-flight requests finish). */
  expire(model: string): void {
    const m = this.#state(model);
    m.keepAliveMs = 0;
    if (m.status === "loaded" && m.active === 0 && m.slotQueue.length === 0) this.#unload(m);
  }

  /** Grants queued waiters after a change of `parallel`. */
  repump(): void {
    for (const m of this.#models.values()) if (m.status === "loaded") this.#pump(m);
  }

  /** Loaded models, the latest expiry first (as `/api/ps` sorts them). */
  resident(now = Date.now()): ResidentModel[] {
    const out: ResidentModel[] = [];
    for (const m of this.#models.values()) {
      if (m.status !== "loaded") continue;
      let expiresAt = m.expiresAt;
      if (m.expiryTimer === undefined && !(m.active === 0 && expiresAt > now)) {
        const ka = this.#keepAlive(m);
        expiresAt = ka === FOREVER ? now + FOREVER_SPAN_MS : now + ka;
      }
      out.push({ name: m.name, expiresAt });
    }
    return out.sort((a, b) => b.expiresAt - a.expiresAt);
  }

  /** Whether `model` is loaded now. */
  isLoaded(model: string): boolean {
    return this.#models.get(model)?.status === "loaded";
  }

  /** Stops every timer (loads and expiries); used on close. */
  dispose(): void {
    for (const m of this.#models.values()) {
      clearTimeout(m.loadTimer);
      clearTimeout(m.expiryTimer);
      m.loadTimer = m.expiryTimer = undefined;
    }
  }

  #state(model: string): ModelState {
    const m = this.#models.get(model);
    if (!m) throw new Error(`unknown model ${model}`);
    return m;
  }

  #keepAlive(m: ModelState): number {
    return m.keepAliveMs ?? this.#options.defaultKeepAliveMs();
  }

  #startLoad(m: ModelState): void {
    m.status = "loading";
    const loadMs = this.#options.knobs.loadMs;
    if (loadMs <= 0) {
      this.#finishLoad(m);
      return;
    }
    m.loadTimer = setTimeout(() => this.#finishLoad(m), loadMs);
  }

  #finishLoad(m: ModelState): void {
    m.loadTimer = undefined;
    m.status = "loaded";
    this.loads++;
    this.#options.onEvent({ type: "load", model: m.name });
    const waiting = m.loadQueue;
    m.loadQueue = [];
    this.#pendingLoads -= waiting.length;
    // Waiters go to the slot queue in arrival order; the free slots are handed out by #pump.
    for (const w of waiting) m.slotQueue.push(w);
    this.#pump(m);
  }

  #pump(m: ModelState): void {
    // A granted request may finish synchronously and release again: the outer loop carries on.
    if (m.pumping) return;
    m.pumping = true;
    try {
      while (m.active < this.#options.knobs.parallel && m.slotQueue.length > 0) {
        m.active++;
        m.slotQueue.shift()!.granted();
      }
    } finally {
      m.pumping = false;
    }
    if (m.active === 0 && m.slotQueue.length === 0 && m.status === "loaded") this.#scheduleExpiry(m);
  }

  #scheduleExpiry(m: ModelState): void {
    this.#clearExpiry(m);
    const ka = this.#keepAlive(m);
    if (ka === FOREVER) return;
    if (ka <= 0) {
      this.#unload(m);
      return;
    }
    m.expiresAt = Date.now() + ka;
    // Node timers overflow past ~24.8 days; a keep-alive that long outlives any simulator run.
    if (ka > MAX_TIMER_MS) return;
    m.expiryTimer = setTimeout(() => this.#unload(m), ka);
    m.expiryTimer.unref();
  }

  #clearExpiry(m: ModelState): void {
    m.expiresAt = 0;
    if (m.expiryTimer !== undefined) {
      clearTimeout(m.expiryTimer);
      m.expiryTimer = undefined;
    }
  }

  #unload(m: ModelState): void {
    this.#clearExpiry(m);
    m.status = "unloaded";
    m.keepAliveMs = undefined;
    this.unloads++;
    this.#options.onEvent({ type: "unload", model: m.name });
  }
}
