/**
 * The make-before-break switch: route and variant in, the route served by the variant out, in
 * this order, each step an event:
 *   1. warm   — load the target's model on each of its nodes and confirm it resident (prewarm.ts);
 *   2. fleet  — every live proxy serves a snapshot that has the target variant;
 *   3. shift  — the SwitchModel write (default_variant := target, arms cleared), CAS on the route
 *               revision read at the start, so a route changed meanwhile aborts the switch;
 *               then every live proxy serves the new snapshot;
 *   4. drain  — the variants that lost their traffic have no request in flight;
 *   5. unload — when asked (request, else the old variant's `unload_when_idle`), `keep_alive: 0`
 *               on the old variant's nodes where no serving variant still uses the model.
 * Anything failing before step 3 leaves the routing state as it was. A switch belongs to the
 * control plane: only `close()` (shutdown) aborts it, never a caller that stops watching.
 */
import type { RoutingSnapshot } from "../../../gen/turnout/v1/routing_pb.js";
import { KEEP_ALIVE, parseDuration } from "../../duration.ts";
import { ErrorCode, TurnoutError, invalidArgument } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { checkSnapshot } from "../../snapshot/check.ts";
import type { AdminOperations } from "../admin/admin-operations.ts";
import type { Fleet } from "../fleet/fleet.ts";
import type { StateStore } from "../state/state-store.ts";
import { routeNameProblem } from "../admin/validate.ts";
import { checkExpectedRevision } from "../admin/write-guard.ts";
import { createSwitchRun, type SwitchRun } from "./switch-run.ts";
import type { SwitchInput, SwitchLock } from "./switch-input.ts";
import { createSwitchEvents, runSwitchSteps } from "./switch-steps.ts";

/** Options of {@link createModelSwitcher}. */
export interface ModelSwitcherOptions {
  /** Performs the shift (its SwitchModel write). */
  admin: AdminOperations;
  /** Read for the route, its nodes and the first-byte timeout. */
  store: StateStore;
  /** The fleet, for steps 2–4; without it those steps are skipped (and no unload happens). */
  fleet?: Fleet;
  /** The snapshot this control plane published or found last (when the stored one is unusable). */
  currentSnapshot: () => RoutingSnapshot | undefined;
  /** Root logger; the switcher logs as `component: "switch"` (route, variant, step; never traffic). */
  logger: Logger;
  /** Default fleet timeout, in ms. Default 30000. */
  fleetTimeoutMs?: number;
  /** Default drain timeout, in ms. Default 600000. */
  drainTimeoutMs?: number;
  /** Poll interval of the drain, in ms. Default 100. */
  drainPollMs?: number;
}

/** Starts and tracks switches. */
export interface ModelSwitcher {
  /**
   * Starts a switch. Problems found before anything moves (unknown route or variant, another
   * switch of the route before its shift) fail the run at once.
   */
  start(input: SwitchInput): SwitchRun;
  /**
   * Aborts the switches of `route` in progress: before its shift nothing moves; after it, the
   * drain and unload stop. Answers their targets; NotFound when there is none.
   */
  cancel(route: string): string[];
  /** Aborts every switch in progress and waits for them to end. */
  close(): Promise<void>;
}

/** Creates the switcher of one control plane. */
export function createModelSwitcher(options: ModelSwitcherOptions): ModelSwitcher {
  const log = options.logger.child({ component: "switch" });
  const controller = new AbortController();
  const runs = new Set<Promise<void>>();
  /** Routes with a switch before its shift: its target and, once it writes, the write. */
  const shifting = new Map<string, SwitchLock>();
  /** Switches in progress per route, each with its own abort. */
  const active = new Map<string, Set<{ variant: string; abort: AbortController }>>();

  /** The version of a consistent snapshot that has (route, variant): the stored one, else ours. */
  async function versionWith(route: string, variant: string): Promise<number> {
    const has = (s: RoutingSnapshot | undefined) =>
      s !== undefined &&
      checkSnapshot(s).length === 0 &&
      s.routes.some((r) => r.name === route && r.variants.some((v) => v.name === variant));
    const stored = (await options.store.readSnapshot())?.value;
    if (has(stored)) return Number(stored!.version);
    const ours = options.currentSnapshot();
    if (has(ours)) return Number(ours!.version);
    throw new TurnoutError(
      ErrorCode.FailedPrecondition,
      `no published snapshot has variant ${JSON.stringify(variant)} of route ${JSON.stringify(route)} yet; retry once it is published`,
    );
  }

  function start(input: SwitchInput): SwitchRun {
    const writer = createSwitchRun();
    const { route, variant } = input;
    const events = createSwitchEvents(writer, route, variant, log);
    const lock: SwitchLock = { variant };
    const entry = { variant, abort: new AbortController() };
    const signal = AbortSignal.any([controller.signal, entry.abort.signal]);
    const ofRoute = active.get(route) ?? new Set();
    active.set(route, ofRoute.add(entry));
    const task = (async () => {
      const problem = routeNameProblem(route);
      if (problem) throw invalidArgument([{ field: "route", message: problem }]);
      if (variant === "") throw invalidArgument([{ field: "variant", message: "must not be empty" }]);
      const keepAlive = input.keepAlive ? parseDuration(input.keepAlive, KEEP_ALIVE) : undefined;
      if (keepAlive?.ok === false) throw invalidArgument([{ field: "keep_alive", message: keepAlive.message }]);
      // One switch per route before its shift; one already writing is waited for (milliseconds).
      for (let busy = shifting.get(route); busy !== undefined; busy = shifting.get(route)) {
        if (busy.writing === undefined)
          throw new TurnoutError(
            ErrorCode.Aborted,
            `a switch of route ${JSON.stringify(route)} to ${JSON.stringify(busy.variant)} is in progress; retry once it has shifted`,
          );
        await busy.writing;
        if (shifting.get(route) === busy) shifting.delete(route);
      }
      shifting.set(route, lock);
      try {
        const state = await options.store.readState();
        const stored = state.routes.find((r) => r.value.name === route);
        if (stored === undefined) throw new TurnoutError(ErrorCode.NotFound, `route ${JSON.stringify(route)} does not exist`);
        const target = stored.value.variants.find((v) => v.name === variant);
        if (target === undefined) {
          const names = stored.value.variants.map((v) => v.name).join(", ");
          throw invalidArgument([
            {
              field: "variant",
              message: `${JSON.stringify(variant)} is not a variant of route ${JSON.stringify(route)} (variants: ${names})`,
            },
          ]);
        }
        checkExpectedRevision(`route ${JSON.stringify(route)}`, stored.revision, input.expectedRevision);
        await runSwitchSteps({
          input,
          state,
          stored,
          target,
          writer,
          events,
          log,
          lock,
          admin: options.admin,
          store: options.store,
          fleet: options.fleet,
          signal,
          fleetTimeoutMs: input.fleetTimeoutMs || options.fleetTimeoutMs || 30_000,
          drainTimeoutMs: input.drainTimeoutMs || options.drainTimeoutMs || 600_000,
          drainPollMs: options.drainPollMs ?? 100,
          versionWith,
          onShifted: () => {
            if (shifting.get(route) === lock) shifting.delete(route);
          },
        });
      } finally {
        if (shifting.get(route) === lock) shifting.delete(route);
      }
    })();
    const settled = task.then(
      () => writer.end(),
      (err: unknown) => {
        log.warn({ route, variant, err: err instanceof Error ? err.message : String(err) }, "switch failed");
        events.failed(err);
        writer.end(err);
      },
    );
    runs.add(settled);
    void settled.finally(() => {
      runs.delete(settled);
      ofRoute.delete(entry);
      if (ofRoute.size === 0 && active.get(route) === ofRoute) active.delete(route);
    });
    return writer.run;
  }

  return {
    start,
    cancel(route) {
      const entries = [...(active.get(route) ?? [])];
      if (entries.length === 0)
        throw new TurnoutError(
          ErrorCode.NotFound,
          `no switch of route ${JSON.stringify(route)} is in progress on this control plane`,
        );
      for (const e of entries) e.abort.abort(new TurnoutError(ErrorCode.Aborted, "cancelled by SwitchService.CancelSwitch"));
      return entries.map((e) => e.variant);
    },
    async close() {
      controller.abort(new TurnoutError(ErrorCode.Unavailable, "the control plane is shutting down"));
      await Promise.all([...runs]);
    },
  };
}
