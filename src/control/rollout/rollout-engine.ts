/**
 * The rollout engine: drives every running rollout through its state machine (rollout-machine.ts;
 * the effects of each transition live in rollout-steps.ts),
 * with its effects — pre-warm, weights through the admin operations (only surplus buckets move,
 * so canary users stay canary as it ramps), fleet convergence, gate evaluation over the live
 * metrics windows, rollback, completion — and records every decision (store record, audit log,
 * RolloutEvent on the bus).
 *
 * Who drives: one control plane per rollout, the holder of its lease (`rollouts-lease.<id>` in the
 * store, taken and renewed with CAS; see rollout-store.ts). Every control plane scans the routes'
 * active-rollout claims every `scanMs` and takes the lease of a running rollout whose lease is
 * free or expired, so a
 * rollout survives the restart of its control plane: a closed control plane gives its leases up
 * at once, a crashed one after `leaseMs`. The record itself is written with CAS on its revision,
 * so a driver that lost its lease (or raced an operator's command) fails its write, re-reads and
 * acts on what is stored. Leases compare wall clocks of different machines: keep them in sync
 * (NTP) and `leaseMs` well above the skew.
 *
 * Operators' commands (pause, resume, abort, promote) may arrive at any control plane: they are
 * written into the record as `pending_command` and the driver acts on them (it watches the
 * record), so every change to the route is made by the one driver.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Convergence } from "../../../gen/turnout/v1/fleet_pb.js";
import { RolloutCommand, RolloutState, type Rollout } from "../../../gen/turnout/v1/rollout_pb.js";
import { delay } from "../../delay.ts";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Fleet } from "../fleet/fleet.ts";
import { createRolloutStore, type RolloutStore } from "./rollout-store.ts";
import { isTerminal, type Transition } from "./rollout-machine.ts";
import { createRolloutSteps } from "./rollout-steps.ts";
import { createChanges } from "./changes.ts";
import type { RolloutEngineOptions, WarmVariant } from "./rollout-engine-options.ts";

export type { RolloutEngineOptions } from "./rollout-engine-options.ts";

/** The engine's operations (the RolloutService handlers call these). */
export interface RolloutEngine {
  readonly store: RolloutStore;
  /** Stores a validated new rollout (a "started" decision already in it) and starts driving it. */
  begin(t: Transition): Promise<Rollout>;
  /** Records an operator's command and answers the rollout once its driver acted on it. */
  command(id: string, command: RolloutCommand, reason: string, timeoutMs?: number): Promise<Rollout>;
  /** Answers `r` once its last decision is in the audit log too (or when `signal` aborts). */
  audited(r: Rollout, signal: AbortSignal): Promise<Rollout>;
  /** Fleet convergence of `version` now, when there is a fleet. */
  convergence(version: bigint): Convergence | undefined;
  /** Stops driving (gives the leases up, so another control plane takes over at once). */
  close(): Promise<void>;
}

const isCode = (err: unknown, ...codes: string[]) => err instanceof TurnoutError && codes.includes(err.code);

/** Creates the engine and starts scanning for rollouts to drive. */
export function createRolloutEngine(options: RolloutEngineOptions): RolloutEngine {
  const log = options.logger.child({ component: "rollout" });
  const now = options.now ?? Date.now;
  const owner = options.owner ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const leaseMs = options.leaseMs ?? 10_000;
  const warm: WarmVariant = options.warm ?? (async () => {});
  const rs = createRolloutStore(options.store);
  const closing = new AbortController();
  const drivers = new Map<string, Promise<void>>();

  const steps = createRolloutSteps({ ...options, rs, log, now, warm });
  const { advance, audited } = steps;

  /** Drives rollout `id` while this control plane holds its lease. */
  function drive(id: string): void {
    if (drivers.has(id) || closing.signal.aborted) return;
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, closing.signal]);
    const changes = createChanges(options.store, `rollouts.${id}`, signal, log);
    const renew = (async () => {
      let renewedAt = now();
      while (!signal.aborted) {
        await delay(leaseMs / 3, signal);
        if (signal.aborted) return;
        try {
          if (!(await rs.acquireLease(id, owner, now(), leaseMs))) {
            log.warn({ rollout: id }, "lost the rollout's lease to another control plane; no longer driving it");
            stop.abort();
          } else renewedAt = now();
        } catch (err) {
          log.warn({ err, rollout: id }, "renewing the rollout's lease failed");
          if (now() - renewedAt > leaseMs) stop.abort();
        }
      }
    })();
    const done = (async () => {
      log.info({ rollout: id, owner }, "driving rollout");
      while (!signal.aborted) {
        const seen = changes.version();
        try {
          const r = await rs.get(id);
          if (r === undefined || isTerminal(r)) break;
          await advance(r, changes, seen, signal);
        } catch (err) {
          if (signal.aborted) break;
          if (isCode(err, ErrorCode.Aborted)) continue; // the record changed under us: re-read
          log.warn({ err, rollout: id }, "rollout step failed; retrying");
          await delay(1000, signal);
        }
      }
    })().finally(async () => {
      stop.abort();
      await renew;
      await rs
        .releaseLease(id, owner)
        .catch((err: unknown) => log.warn({ err, rollout: id }, "releasing the rollout's lease failed"));
      drivers.delete(id);
    });
    drivers.set(id, done);
  }

  /** Takes the lease of every active rollout nobody drives (active = its route is claimed). */
  async function scan(): Promise<void> {
    for (const id of await rs.activeIds()) {
      if (drivers.has(id) || closing.signal.aborted) continue;
      const r = await rs.get(id);
      if (r === undefined || isTerminal(r)) continue;
      if (await rs.acquireLease(id, owner, now(), leaseMs)) drive(id);
    }
  }

  const scanning = (async () => {
    let failing = false; // warn once per outage, not every scan
    while (!closing.signal.aborted) {
      try {
        await scan();
        if (failing) log.info("scanning for rollouts works again");
        failing = false;
      } catch (err) {
        if (!closing.signal.aborted && !failing) log.warn({ err }, "scanning for rollouts failed; retrying every scan");
        failing = true;
      }
      await delay(options.scanMs ?? 1000, closing.signal);
    }
  })();

  return {
    store: rs,
    async begin(t) {
      const stored = await steps.record(t, 0n);
      if (await rs.acquireLease(stored.id, owner, now(), leaseMs)) drive(stored.id);
      return stored;
    },
    async command(id, command, reason, timeoutMs = 10_000) {
      for (let attempt = 0; ; attempt++) {
        const r = await rs.get(id);
        if (r === undefined) throw new TurnoutError(ErrorCode.NotFound, `rollout ${JSON.stringify(id)} does not exist`);
        if (isTerminal(r))
          throw new TurnoutError(
            ErrorCode.FailedPrecondition,
            `rollout ${id} has already ended (${RolloutState[r.state].toLowerCase()}: ${r.reason})`,
          );
        if (command === RolloutCommand.PAUSE && r.state === RolloutState.PAUSED && r.pendingCommand === 0) return r;
        if (command === RolloutCommand.RESUME && r.state !== RolloutState.PAUSED && r.pendingCommand !== RolloutCommand.PAUSE) {
          throw new TurnoutError(ErrorCode.FailedPrecondition, `rollout ${id} is not paused`);
        }
        const change: Rollout = { ...r, pendingCommand: command };
        if (command === RolloutCommand.ABORT) change.reason = reason || "aborted by an operator";
        try {
          await rs.put(change, Number(r.revision));
          break;
        } catch (err) {
          if (!isCode(err, ErrorCode.Aborted) || attempt >= 10) throw err;
        }
      }
      if (!drivers.has(id)) void scan().catch(() => undefined);
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), closing.signal]);
      try {
        for await (const entry of options.store.watch(`rollouts.${id}`, signal)) {
          if (entry.deleted) continue;
          const r = await rs.get(id);
          if (r !== undefined && (r.pendingCommand === RolloutCommand.UNSPECIFIED || isTerminal(r)))
            return await audited(r, signal);
        }
      } catch (err) {
        if (!signal.aborted) throw err;
      }
      throw new TurnoutError(
        ErrorCode.DeadlineExceeded,
        `the command is recorded in rollout ${id}, but the control plane driving it has not acted on it within ${timeoutMs} ms; it will when it does`,
      );
    },
    audited,
    convergence(version) {
      if (options.fleet === undefined || version === 0n) return undefined;
      return convergenceNow(options.fleet, Number(version));
    },
    async close() {
      closing.abort();
      await scanning;
      await Promise.all([...drivers.values()]);
    },
  };
}

/** The convergence of `version` now (the fleet counts newer versions as synced). */
function convergenceNow(fleet: Fleet, version: number): Convergence | undefined {
  try {
    return fleet.convergence(version);
  } catch {
    return undefined;
  }
}
