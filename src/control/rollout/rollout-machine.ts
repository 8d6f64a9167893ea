/**
 * The rollout state machine (pure): a stored Rollout and what just happened (a pre-warm ended, a
 * step's snapshot was written or converged, an evaluation came back, an operator's command) in,
 * the next Rollout and the decision to record out. Times are explicit epoch milliseconds, so a
 * restarted control plane continues from the stored `dwell_ends_at` with the remaining time of
 * the interval, and tests need no clock.
 *
 *   WARMING → (step 1) APPLYING → CONVERGING → DWELLING ─ pass ──→ APPLYING (next step) … 100 % → COMPLETED
 *                                                   │ too few samples: dwell again (held)
 *                                                   │ gate failed below the failure limit: dwell again
 *                                                   └ failure limit reached / relative gate failed → ROLLED_BACK
 *   PAUSE (any running phase) ⇄ RESUME; ABORT → ABORTED; PROMOTE → COMPLETED
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Convergence } from "../../../gen/turnout/v1/fleet_pb.js";
import {
  GateVerdict,
  RolloutEventSchema,
  RolloutPhase,
  RolloutSchema,
  RolloutState,
  type GateReport,
  type Rollout,
  type RolloutEvent,
  type RolloutGates,
} from "../../../gen/turnout/v1/rollout_pb.js";
import { GATE_DEFAULTS, failureSummary, relativeFailed } from "./gates.ts";

/** Decision kinds published on the bus, plus "held" (audit log only). */
const EventKind = {
  Started: "started",
  Step: "step",
  Paused: "paused",
  Resumed: "resumed",
  GateFailed: "gate_failed",
  RolledBack: "rolled_back",
  Promoted: "promoted",
  Completed: "completed",
  Aborted: "aborted",
  Held: "held",
} as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

/** Default canary percents. */
export const DEFAULT_STEPS = [1, 5, 10, 25, 50, 100] as const;
/** Default dwell per step, in ms. */
export const DEFAULT_INTERVAL_MS = 60_000;

/** What a new rollout is made of (validated). */
export interface RolloutSpec {
  id: string;
  route: string;
  from: string;
  to: string;
  steps: number[];
  intervalMs: number;
  gates: RolloutGates | undefined;
}

/** A transition's result: the next record and the decisions to record, in order. */
export interface Transition {
  rollout: Rollout;
  events: RolloutEvent[];
}

const ts = (ms: number): Timestamp => timestampFromMs(Math.floor(ms));
const msOf = (t: Timestamp | undefined): number => (t === undefined ? 0 : timestampMs(t));

/** Whether the rollout has ended. */
export function isTerminal(r: Rollout): boolean {
  return r.state === RolloutState.COMPLETED || r.state === RolloutState.ROLLED_BACK || r.state === RolloutState.ABORTED;
}

/** The decision `kind` about `r` (as it is after the decision). */
function eventOf(
  r: Rollout,
  kind: EventKind,
  reason: string,
  nowMs: number,
  extra: { evaluation?: GateReport; snapshotVersion?: bigint } = {},
): RolloutEvent {
  return create(RolloutEventSchema, {
    rolloutId: r.id,
    route: r.route,
    fromVariant: r.fromVariant,
    toVariant: r.toVariant,
    kind,
    reason,
    step: r.step,
    canaryPercent: r.canaryPercent,
    at: ts(nowMs),
    evaluation: extra.evaluation,
    snapshotVersion: extra.snapshotVersion ?? 0n,
  });
}

function next(r: Rollout, nowMs: number, change: Partial<Rollout>): Rollout {
  return { ...r, ...change, updatedAt: ts(nowMs) };
}

function withEvent(r: Rollout, events: RolloutEvent[]): Transition {
  return { rollout: { ...r, lastEvent: events.at(-1) ?? r.lastEvent }, events };
}

/** A new rollout, warming its canary; records "started". */
export function startRollout(spec: RolloutSpec, nowMs: number): Transition {
  const r = create(RolloutSchema, {
    id: spec.id,
    route: spec.route,
    fromVariant: spec.from,
    toVariant: spec.to,
    steps: spec.steps,
    intervalMs: spec.intervalMs,
    gates: spec.gates,
    state: RolloutState.RUNNING,
    phase: RolloutPhase.WARMING,
    createdAt: ts(nowMs),
    updatedAt: ts(nowMs),
  });
  const reason = `${spec.from} → ${spec.to} in steps ${spec.steps.join(", ")} % every ${spec.intervalMs} ms`;
  return withEvent(r, [eventOf(r, EventKind.Started, reason, nowMs)]);
}

/** The pre-warm ended well: apply step 1. */
export function warmed(r: Rollout, nowMs: number): Transition {
  return withEvent(next(r, nowMs, { phase: RolloutPhase.APPLYING, step: 1 }), []);
}

/** The current step's weights are in snapshot `version`: wait for the fleet; records "step". */
export function stepApplied(r: Rollout, version: bigint, nowMs: number): Transition {
  const percent = r.steps[r.step - 1] ?? 100;
  const n = next(r, nowMs, {
    phase: RolloutPhase.CONVERGING,
    canaryPercent: percent,
    snapshotVersion: version,
    convergence: undefined,
  });
  const reason = `step ${r.step}/${r.steps.length}: weights ${r.fromVariant} ${100 - percent} / ${r.toVariant} ${percent}`;
  return withEvent(n, [eventOf(n, EventKind.Step, reason, nowMs, { snapshotVersion: version, evaluation: r.lastEvaluation })]);
}

/** Every live proxy serves the step's snapshot (or there is no fleet): start the dwell. */
export function converged(r: Rollout, convergence: Convergence | undefined, nowMs: number): Transition {
  return withEvent(
    next(r, nowMs, {
      phase: RolloutPhase.DWELLING,
      convergence,
      stepStartedAt: ts(nowMs),
      dwellEndsAt: ts(nowMs + r.intervalMs),
      analysisStartedAt: r.analysisStartedAt ?? ts(nowMs),
    }),
    [],
  );
}

/** Milliseconds of dwell left at `nowMs` (0 when it is over). */
export function dwellLeftMs(r: Rollout, nowMs: number): number {
  return Math.max(0, msOf(r.dwellEndsAt) - nowMs);
}

/**
 * Seconds of outcomes the step's window covers at `nowMs` (the metrics' whole seconds from the
 * one the dwell started in through the current one), and the relative gate's window (since the
 * first step's dwell), at most an hour.
 */
export function windowsAt(r: Rollout, nowMs: number): { stepSeconds: number; sinceStartSeconds: number } {
  const secs = (from: number) => Math.min(3600, Math.max(1, Math.floor(nowMs / 1000) - Math.floor(from / 1000) + 1));
  return { stepSeconds: secs(msOf(r.stepStartedAt) || nowMs), sinceStartSeconds: secs(msOf(r.analysisStartedAt) || nowMs) };
}

/** What an evaluation decided. */
export type Verdict = "advance" | "hold" | "retry" | "rollback";

/**
 * The dwell ended and the gates were evaluated: advance to the next step, hold (too few
 * samples), dwell again after a failure below the limit, or roll back. On "rollback" the caller
 * must return the canary's buckets to stable and then store the result of {@link rolledBack}.
 */
export function evaluated(r: Rollout, report: GateReport, nowMs: number): Transition & { verdict: Verdict } {
  const base = { lastEvaluation: report };
  if (report.verdict === GateVerdict.FAIL) {
    const failures = r.failures + 1;
    const limit = r.gates?.failureLimit || GATE_DEFAULTS.failureLimit;
    const summary = failureSummary(report);
    if (failures >= limit || relativeFailed(report)) {
      const n = next(r, nowMs, { ...base, failures });
      return {
        ...withEvent(n, [
          eventOf(n, EventKind.GateFailed, `${summary} (failure ${failures} of ${limit})`, nowMs, { evaluation: report }),
        ]),
        verdict: "rollback",
      };
    }
    const n = next(r, nowMs, { ...base, failures, dwellEndsAt: ts(nowMs + r.intervalMs) });
    return {
      ...withEvent(n, [
        eventOf(n, EventKind.GateFailed, `${summary} (failure ${failures} of ${limit}; holding the step)`, nowMs, {
          evaluation: report,
        }),
      ]),
      verdict: "retry",
    };
  }
  if (report.verdict === GateVerdict.INSUFFICIENT) {
    const n = next(r, nowMs, { ...base, dwellEndsAt: ts(nowMs + r.intervalMs), reason: "holding: too few samples" });
    const firstHold = r.lastEvaluation?.verdict !== GateVerdict.INSUFFICIENT || r.lastEvaluation.step !== r.step;
    const detail = report.results
      .filter((x) => x.verdict === GateVerdict.INSUFFICIENT)
      .map((x) => `${x.gate}: ${x.detail}`)
      .join("; ");
    const events = firstHold
      ? [
          eventOf(
            n,
            EventKind.Held,
            `too few samples to judge step ${r.step}: ${detail || `${report.canary?.requests ?? 0} canary requests`}`,
            nowMs,
            { evaluation: report },
          ),
        ]
      : [];
    return { ...withEvent(n, events), verdict: "hold" };
  }
  const n = next(r, nowMs, { ...base, phase: RolloutPhase.APPLYING, step: r.step + 1, reason: "" });
  return { ...withEvent(n, []), verdict: "advance" };
}

/** The canary's buckets are back on stable after a failed gate: records "rolled_back". */
export function rolledBack(r: Rollout, version: bigint, nowMs: number): Transition {
  const reason = (r.lastEvaluation && failureSummary(r.lastEvaluation)) || "a gate failed";
  const n = end(r, RolloutState.ROLLED_BACK, `rolled back: ${reason}`, nowMs, { canaryPercent: 0, snapshotVersion: version });
  return withEvent(n, [
    eventOf(n, EventKind.RolledBack, reason, nowMs, { evaluation: r.lastEvaluation, snapshotVersion: version }),
  ]);
}

/** The canary became the route's default (last step or promotion): records "completed" or "promoted". */
export function completed(r: Rollout, version: bigint, nowMs: number, promoted: boolean): Transition {
  const n = end(r, RolloutState.COMPLETED, promoted ? "promoted by an operator" : "reached 100 %", nowMs, {
    canaryPercent: 100,
    snapshotVersion: version,
  });
  const kind = promoted ? EventKind.Promoted : EventKind.Completed;
  const evaluation = promoted ? undefined : r.lastEvaluation;
  return withEvent(n, [
    eventOf(n, kind, `${r.toVariant} is the default variant of ${r.route}`, nowMs, { snapshotVersion: version, evaluation }),
  ]);
}

/** Aborted (operator, failed pre-warm, or a route that no longer takes the weights): records "aborted". */
export function aborted(r: Rollout, reason: string, version: bigint, nowMs: number): Transition {
  const n = end(r, RolloutState.ABORTED, reason, nowMs, { canaryPercent: 0, snapshotVersion: version || r.snapshotVersion });
  return withEvent(n, [eventOf(n, EventKind.Aborted, reason, nowMs, { snapshotVersion: version })]);
}

function end(r: Rollout, state: RolloutState, reason: string, nowMs: number, change: Partial<Rollout>): Rollout {
  return next(r, nowMs, {
    ...change,
    state,
    phase: RolloutPhase.UNSPECIFIED,
    reason,
    endedAt: ts(nowMs),
    pendingCommand: 0,
    remainingMs: 0,
  });
}

/** Paused: the dwell's remaining time is kept; records "paused". */
export function paused(r: Rollout, nowMs: number): Transition {
  const remainingMs = r.phase === RolloutPhase.DWELLING ? dwellLeftMs(r, nowMs) : 0;
  const n = next(r, nowMs, { state: RolloutState.PAUSED, remainingMs, pendingCommand: 0 });
  return withEvent(n, [
    eventOf(n, EventKind.Paused, remainingMs > 0 ? `${remainingMs} ms of the step's dwell left` : "paused", nowMs),
  ]);
}

/** Resumed with the dwell time it had left; records "resumed". */
export function resumed(r: Rollout, nowMs: number): Transition {
  const change: Partial<Rollout> = { state: RolloutState.RUNNING, remainingMs: 0, pendingCommand: 0 };
  if (r.phase === RolloutPhase.DWELLING) change.dwellEndsAt = ts(nowMs + r.remainingMs);
  const n = next(r, nowMs, change);
  return withEvent(n, [
    eventOf(n, EventKind.Resumed, r.phase === RolloutPhase.DWELLING ? `${r.remainingMs} ms of dwell left` : "resumed", nowMs),
  ]);
}

/** The same record with its pending command dropped (a command that no longer applies). */
export function commandDropped(r: Rollout, nowMs: number): Transition {
  return withEvent(next(r, nowMs, { pendingCommand: 0 }), []);
}
