/**
 * One switch in progress as callers see it: the events it emitted so far (kept, so a watcher
 * that arrives late still sees the whole story), a promise for the moment traffic moved, and a
 * promise for its end. A watcher that stops watching does not stop the switch.
 */

/** The steps of a switch (SwitchPhase in switch.proto). */
export const SwitchStep = {
  Warming: "warming",
  Resident: "resident",
  Fleet: "fleet",
  Shifted: "shifted",
  Draining: "draining",
  Drained: "drained",
  Unloaded: "unloaded",
  Failed: "failed",
} as const;
export type SwitchStep = (typeof SwitchStep)[keyof typeof SwitchStep];

/** One progress event of a switch. */
export interface SwitchEvent {
  phase: SwitchStep;
  route: string;
  /** Target variant. */
  variant: string;
  /** Default variant before the switch. */
  previousVariant: string;
  /** Model tag the event is about. */
  model: string;
  /** Node the event is about ("" when none). */
  node: string;
  nodesDone: number;
  nodesTotal: number;
  fleetSynced: number;
  fleetLive: number;
  snapshotVersion: number;
  /** Old variant's requests in flight (draining). */
  inFlight: number;
  elapsedMs: number;
  message: string;
}

/** What the shift wrote. */
export interface ShiftResult {
  previousVariant: string;
  /** Store revision of the route after the switch. */
  revision: number;
  /** Snapshot that carries the switch. */
  snapshotVersion: number;
}

/** A switch as its callers see it. */
export interface SwitchRun {
  /**
   * Every event so far, then each new one, until the switch ends (then returns, or throws its
   * error after the `failed` event) or `signal` aborts (then returns; the switch goes on).
   */
  events(signal?: AbortSignal): AsyncGenerator<SwitchEvent>;
  /** Resolves once the shift is written and published; rejects with the error of a switch that failed before. */
  readonly shifted: Promise<ShiftResult>;
  /** Resolves when the switch is over; rejects with its error. */
  readonly done: Promise<void>;
}

/** The writer's side of a run. */
export interface SwitchRunWriter {
  readonly run: SwitchRun;
  emit(event: SwitchEvent): void;
  shifted(result: ShiftResult): void;
  /** Ends the run: with `error` it rejects `shifted` (unless resolved) and `done`. */
  end(error?: unknown): void;
}

/** Creates a run and its writer. */
export function createSwitchRun(): SwitchRunWriter {
  const events: SwitchEvent[] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let wakers = new Set<() => void>();
  const wake = () => {
    const w = wakers;
    wakers = new Set();
    for (const f of w) f();
  };
  let resolveShift!: (r: ShiftResult) => void;
  let rejectShift!: (e: unknown) => void;
  const shifted = new Promise<ShiftResult>((resolve, reject) => {
    resolveShift = resolve;
    rejectShift = reject;
  });
  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  // Callers may watch only one of the two; an unobserved rejection is not a crash.
  shifted.catch(() => undefined);
  done.catch(() => undefined);

  const next = (signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const f = () => {
        signal?.removeEventListener("abort", f);
        wakers.delete(f);
        resolve();
      };
      wakers.add(f);
      signal?.addEventListener("abort", f, { once: true });
    });

  const run: SwitchRun = {
    async *events(signal) {
      let i = 0;
      for (;;) {
        while (i < events.length) yield events[i++]!;
        if (ended) {
          if (failure !== undefined) throw failure.error;
          return;
        }
        if (signal?.aborted) return;
        await next(signal);
      }
    },
    shifted,
    done,
  };
  return {
    run,
    emit(event) {
      events.push(event);
      wake();
    },
    shifted: (r) => resolveShift(r),
    end(error) {
      if (ended) return;
      ended = true;
      if (error !== undefined) {
        failure = { error };
        rejectShift(error);
        rejectDone(error);
      } else {
        rejectShift(new Error("the switch ended without shifting"));
        resolveDone();
      }
      wake();
    },
  };
}
