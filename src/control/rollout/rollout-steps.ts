/**
 * The effects of each rollout transition (rollout-machine.ts decides, this module acts): pre-warm,
 * step weights through the admin operations, fleet convergence, gate evaluation over the live
 * metrics windows, rollback, completion and operators' commands — and the recording of every
 * decision (store record with CAS, audit log, RolloutEvent on the bus). Called by the engine's
 * driver, which holds the rollout's lease.
 */
import { toJsonString } from "@bufbuild/protobuf";
import type { Convergence } from "../../../gen/turnout/v1/fleet_pb.js";
import {
  RolloutCommand,
  RolloutEventSchema,
  RolloutPhase,
  RolloutState,
  type Rollout,
  type RolloutEvent,
} from "../../../gen/turnout/v1/rollout_pb.js";
import { delay } from "../../delay.ts";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { SUBJECTS } from "../../transport/types.ts";
import type { Changes } from "./changes.ts";
import { evaluateGates, variantSample } from "./gates.ts";
import type { RolloutEngineOptions, WarmVariant } from "./rollout-engine-options.ts";
import {
  aborted,
  commandDropped,
  completed,
  converged,
  dwellLeftMs,
  evaluated,
  isTerminal,
  paused,
  resumed,
  rolledBack,
  stepApplied,
  warmed,
  windowsAt,
  type Transition,
} from "./rollout-machine.ts";
import type { RolloutStore } from "./rollout-store.ts";

/** What the steps need: the engine's options plus its store, logger, clock and pre-warm. */
export interface RolloutStepsContext extends RolloutEngineOptions {
  rs: RolloutStore;
  log: Logger;
  now: () => number;
  warm: WarmVariant;
}

/** The steps of a driven rollout. */
export interface RolloutSteps {
  /** Stores `t` with CAS on `expected`, then appends and publishes its decisions. */
  record(t: Transition, expected: bigint): Promise<Rollout>;
  /** One step of the machine for the stored `r`; returns when the record should be read again. */
  advance(r: Rollout, changes: Changes, seen: number, signal: AbortSignal): Promise<void>;
  /** Answers `r` once its last decision is in the audit log too (or when `signal` aborts). */
  audited(r: Rollout, signal: AbortSignal): Promise<Rollout>;
}

const isCode = (err: unknown, ...codes: string[]) => err instanceof TurnoutError && codes.includes(err.code);
const encoder = new TextEncoder();

/** Creates the steps over `ctx`. */
export function createRolloutSteps(ctx: RolloutStepsContext): RolloutSteps {
  const { rs, log, now, warm } = ctx;
  const options = ctx;

  /** Stores `t` with CAS on `expected`, then appends and publishes its decisions. */
  async function record(t: Transition, expected: bigint): Promise<Rollout> {
    const stored = await rs.put(t.rollout, Number(expected));
    for (const event of t.events) publish(await rs.appendAudit(event));
    if (isTerminal(stored)) await rs.releaseRoute(stored.route, stored.id);
    return stored;
  }

  function publish(event: RolloutEvent): void {
    log.info(
      {
        rollout: event.rolloutId,
        route: event.route,
        kind: event.kind,
        step: event.step,
        canaryPercent: event.canaryPercent,
        reason: event.reason,
      },
      "rollout decision",
    );
    if (options.bus === undefined || event.kind === "held") return;
    try {
      options.bus.publish(SUBJECTS.rolloutEvents, encoder.encode(toJsonString(RolloutEventSchema, event)));
    } catch (err) {
      log.warn({ err }, "rollout event not published");
    }
  }

  /** Returns the canary's buckets to stable (weights stable 100, canary 0); answers the snapshot version. */
  async function toStable(r: Rollout): Promise<bigint> {
    const res = await options.admin.setWeights(r.route, [
      { variant: r.fromVariant, weight: 100 },
      { variant: r.toVariant, weight: 0 },
    ]);
    return BigInt(res.snapshotVersion);
  }

  async function onCommand(r: Rollout): Promise<void> {
    const t = now();
    switch (r.pendingCommand) {
      case RolloutCommand.PAUSE:
        await record(r.state === RolloutState.RUNNING ? paused(r, t) : commandDropped(r, t), r.revision);
        return;
      case RolloutCommand.RESUME:
        await record(r.state === RolloutState.PAUSED ? resumed(r, t) : commandDropped(r, t), r.revision);
        return;
      case RolloutCommand.ABORT: {
        const version = r.step > 0 ? await toStable(r) : 0n;
        await record(aborted(r, r.reason || "aborted by an operator", version, now()), r.revision);
        return;
      }
      case RolloutCommand.PROMOTE: {
        const res = await options.admin.switchModel(r.route, r.toVariant);
        await record(completed(r, BigInt(res.snapshotVersion), now(), true), r.revision);
        return;
      }
      default:
        await record(commandDropped(r, t), r.revision);
    }
  }

  /** Pre-warm, cut short when the rollout is aborted meanwhile. */
  async function warmUp(r: Rollout, changes: Changes, signal: AbortSignal): Promise<void> {
    const stop = new AbortController();
    const warming = warm(r.route, r.toVariant, AbortSignal.any([signal, stop.signal])).then(
      () => undefined,
      (err: unknown) => err ?? new Error("pre-warm failed"),
    );
    for (;;) {
      const seen = changes.version();
      const outcome = await Promise.race([
        warming.then((error) => ({ error })),
        changes.wait(seen, signal).then(() => undefined),
      ]);
      const fresh = await rs.get(r.id);
      if (fresh === undefined || isTerminal(fresh) || signal.aborted) {
        stop.abort();
        return;
      }
      if (outcome === undefined) {
        if (fresh.pendingCommand === RolloutCommand.ABORT) {
          stop.abort();
          await warming;
          return onCommand(fresh);
        }
        continue;
      }
      if (outcome.error !== undefined) {
        const message = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
        await record(
          aborted(fresh, `pre-warm of ${fresh.toVariant} failed, no traffic moved: ${message}`, 0n, now()),
          fresh.revision,
        );
        return;
      }
      if (fresh.phase === RolloutPhase.WARMING) await record(warmed(fresh, now()), fresh.revision);
      return;
    }
  }

  async function applyStep(r: Rollout): Promise<void> {
    const percent = r.steps[r.step - 1] ?? 100;
    try {
      if (percent >= 100) {
        const res = await options.admin.switchModel(r.route, r.toVariant);
        await record(completed(r, BigInt(res.snapshotVersion), now(), false), r.revision);
        return;
      }
      const res = await options.admin.setWeights(r.route, [
        { variant: r.fromVariant, weight: 100 - percent },
        { variant: r.toVariant, weight: percent },
      ]);
      await record(stepApplied(r, BigInt(res.snapshotVersion), now()), r.revision);
    } catch (err) {
      if (!isCode(err, ErrorCode.InvalidArgument, ErrorCode.NotFound, ErrorCode.FailedPrecondition)) throw err;
      // The route no longer takes these weights (changed or deleted meanwhile): end the rollout.
      const version = await toStable(r).catch(() => 0n);
      await record(
        aborted(r, `step ${r.step} (${percent} %) could not be applied: ${(err as Error).message}`, version, now()),
        r.revision,
      );
    }
  }

  async function awaitFleet(r: Rollout, changes: Changes, signal: AbortSignal): Promise<void> {
    const fleet = options.fleet;
    let c: Convergence | undefined;
    while (fleet !== undefined && fleet.proxies().length > 0) {
      const seen = changes.version();
      try {
        c = await fleet.waitForConvergence(Number(r.snapshotVersion), 1000, signal);
        break;
      } catch (err) {
        if (signal.aborted) return;
        if (!isCode(err, ErrorCode.DeadlineExceeded)) throw err;
        if (changes.version() !== seen) return; // the record changed (a command): re-read first
      }
    }
    await record(converged(r, c, now()), r.revision);
  }

  async function dwell(r: Rollout, changes: Changes, seen: number, signal: AbortSignal): Promise<void> {
    const left = dwellLeftMs(r, now());
    if (left > 0) return changes.wait(seen, signal, left);
    await options.rebuilt?.();
    const at = now();
    const { stepSeconds, sinceStartSeconds } = windowsAt(r, at);
    const step = options.metrics?.window(stepSeconds, r.route);
    const all = options.metrics?.window(sinceStartSeconds, r.route);
    const of = (w: typeof step, variant: string) =>
      variantSample(
        variant,
        w?.series.find((s) => s.variant === variant),
      );
    const report = evaluateGates({
      gates: r.gates,
      canary: of(step, r.toVariant),
      stable: of(step, r.fromVariant),
      canarySinceStart: of(all, r.toVariant),
      stableSinceStart: of(all, r.fromVariant),
      step: r.step,
      canaryPercent: r.canaryPercent,
      windowSeconds: stepSeconds,
      relativeWindowSeconds: sinceStartSeconds,
      atMs: at,
    });
    const t = evaluated(r, report, at);
    const stored = await record(t, r.revision);
    if (t.verdict !== "rollback") return;
    const version = await toStable(stored);
    await record(rolledBack(stored, version, now()), stored.revision);
  }

  /** One step of the machine for the stored `r`; returns when the record should be read again. */
  async function advance(r: Rollout, changes: Changes, seen: number, signal: AbortSignal): Promise<void> {
    if (r.pendingCommand !== RolloutCommand.UNSPECIFIED) return onCommand(r);
    if (r.state === RolloutState.PAUSED) return changes.wait(seen, signal);
    switch (r.phase) {
      case RolloutPhase.WARMING:
        return warmUp(r, changes, signal);
      case RolloutPhase.APPLYING:
        return applyStep(r);
      case RolloutPhase.CONVERGING:
        return awaitFleet(r, changes, signal);
      case RolloutPhase.DWELLING:
        return dwell(r, changes, seen, signal);
      default:
        throw new TurnoutError(ErrorCode.Internal, `rollout ${r.id} is in no known phase (${r.phase})`);
    }
  }

  /**
   * Answers `r` once its last decision is in the audit log too (the driver appends it right after
   * the record), so a caller that reads the log next finds it; gives up quietly at `signal`.
   */
  async function audited(r: Rollout, signal: AbortSignal): Promise<Rollout> {
    const e = r.lastEvent;
    if (e === undefined) return r;
    const same = (x: RolloutEvent) => x.kind === e.kind && x.at?.seconds === e.at?.seconds && x.at?.nanos === e.at?.nanos;
    while (!signal.aborted && !(await rs.audit(r.id)).some(same)) await delay(20, signal);
    return r;
  }

  return { record, advance, audited };
}
