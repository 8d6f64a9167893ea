/**
 * Feedback on an answer given in an experiment, shared by `POST /v1/feedback` and
 * `ChatService.Feedback`: the client sends back the answer's `x-turnout-ref` with a metric name
 * and a value. In order:
 *
 * 1. The input: the ref is verified with the proxy's key (HMAC-SHA256, see feedback-ref.ts) and
 *    only then trusted; the metric must be `[a-z0-9_.-]{1,64}` and the value a finite number.
 * 2. The snapshot (feedback-targets.ts): the ref must not have expired (issued longer than
 *    `Settings.feedback_ref_ttl_ms` ago, default 7 days); its experiment must be running or kept
 *    for feedback (paused, or stopped or concluded within the TTL), with the ref's phase and arm;
 *    the metric must be one the experiment declared (any, when it declared none) and the value
 *    within the metric's range (default [-1e9, 1e9]).
 * 3. Replays (feedback-replays.ts): feedback is accepted once per ref and metric, fleet-wide.
 *
 * Problems of 1 and 2 are one `invalid_argument` error naming every bad field (`ref: expired …`),
 * a replay is `already_exists` (`ref: …`); no snapshot yet, or an experiment or phase unknown to a
 * proxy behind the ref's snapshot version, is `unavailable` (retry); nothing is recorded then. Accepted feedback goes to the listener (the outcome batcher: the same batches, retries,
 * dedupe ids and log as outcomes) and its key into the replay window.
 */
import { RefProblem, verifyRef, type RefFields } from "../../assign/feedback-ref.ts";
import { ReplayCheck, feedbackReplayKey } from "../../assign/feedback-replay-window.ts";
import { formatDuration } from "../../duration.ts";
import { ErrorCode, TurnoutError, invalidArgument, type FieldViolation } from "../../errors.ts";
import { FEEDBACK_METRIC_NAME } from "../../snapshot/feedback-rules.ts";
import type { KeyObject } from "node:crypto";
import type { FeedbackReplays } from "./feedback-replays.ts";
import { feedbackRange, type FeedbackTargets } from "./feedback-targets.ts";

/** One accepted piece of feedback, as the outcome batcher records it. */
export interface FeedbackEntry {
  readonly experiment: string;
  readonly phase: number;
  /** Arm index in the experiment. */
  readonly arm: number;
  /** Hex FNV-1a of the unit (as the ref carries it). */
  readonly unitHash: string;
  /** Request id of the answer the feedback is about. */
  readonly requestId: string;
  readonly metric: string;
  readonly value: number;
  /** When the proxy accepted it, in epoch ms. */
  readonly receivedAtMs: number;
  /** Replay key of (ref, metric) (feedback-replay-window.ts). Default: none. */
  readonly replayKey?: number;
  /** When the ref was issued, in epoch ms. Default: unknown. */
  readonly refIssuedAtMs?: number;
}

/** Receives accepted feedback; must not throw. */
export type FeedbackListener = (feedback: FeedbackEntry) => void;

/** What a client sent (unchecked). */
export interface FeedbackInput {
  readonly ref: unknown;
  readonly metric: unknown;
  readonly value: unknown;
}

/** What accepting feedback needs from the proxy. */
export interface FeedbackDesk {
  /** Verifies refs. */
  readonly refKey: KeyObject;
  /** The fleet's accepted (ref, metric) keys. */
  readonly replays: FeedbackReplays;
  /** Receives accepted feedback. Default: none. */
  readonly listener?: FeedbackListener;
}

/** The message for each way a ref can be rejected. */
const REF_MESSAGES: Record<RefProblem, string> = {
  [RefProblem.Malformed]: "malformed (not an x-turnout-ref)",
  [RefProblem.BadSignature]: "bad signature",
  [RefProblem.UnknownVersion]: "unknown ref version",
  [RefProblem.TooLong]: "too long",
};

/** `ms` to the second, as a duration ("8d2h", "45s"). */
const roughly = (ms: number) => formatDuration(Math.max(1000, Math.round(ms / 1000) * 1000));

/** The problems with `input` itself; empty when it is acceptable. The fields of a valid ref come back too. */
function checkInput(input: FeedbackInput, key: KeyObject): { violations: FieldViolation[]; fields?: RefFields } {
  const violations: FieldViolation[] = [];
  let fields: RefFields | undefined;
  if (input.ref === undefined || input.ref === null || input.ref === "")
    violations.push({ field: "ref", message: "missing (send the answer's x-turnout-ref)" });
  else {
    const v = verifyRef(input.ref, key);
    // A signed ref only names what a proxy assigned; the range check keeps the wire types (uint32 phase, int32 arm) safe anyway.
    if (v.ok && (v.fields.phase > 0xffffffff || v.fields.arm > 0x7fffffff))
      violations.push({ field: "ref", message: "names a phase or arm out of range" });
    else if (v.ok) fields = v.fields;
    else violations.push({ field: "ref", message: REF_MESSAGES[v.reason] });
  }
  if (typeof input.metric !== "string" || !FEEDBACK_METRIC_NAME.test(input.metric))
    violations.push({ field: "metric", message: "must be 1..64 characters of [a-z0-9_.-]" });
  if (typeof input.value !== "number" || !Number.isFinite(input.value))
    violations.push({ field: "value", message: "must be a finite number" });
  return { violations, fields };
}

/** The problems of a valid ref, metric and value against the snapshot's `targets` at `nowMs`. */
function checkTarget(f: RefFields, metric: string, value: number, targets: FeedbackTargets, nowMs: number): FieldViolation[] {
  const age = nowMs - f.issuedAt;
  if (age > targets.ttlMs)
    return [{ field: "ref", message: `expired (issued ${roughly(age)} ago; refs take feedback for ${roughly(targets.ttlMs)})` }];
  const e = targets.experiments.get(f.experiment);
  const name = JSON.stringify(f.experiment);
  // the ref comes from a proxy that applied a newer snapshot (an experiment just started or re-split)
  if ((e === undefined || f.phase >= e.phases) && f.snapshotVersion > targets.version)
    throw new TurnoutError(
      ErrorCode.Unavailable,
      `this proxy has not applied snapshot ${f.snapshotVersion} of the ref yet (it serves ${targets.version}); try again`,
    );
  if (e === undefined)
    return [
      {
        field: "ref",
        message: `names experiment ${name}, which is not running and did not end within the last ${roughly(targets.ttlMs)}`,
      },
    ];
  if (f.phase >= e.phases)
    return [{ field: "ref", message: `names phase ${f.phase} of experiment ${name}, which has phases 0..${e.phases - 1}` }];
  if (f.arm >= e.arms) return [{ field: "ref", message: `names arm ${f.arm} of experiment ${name}, which has ${e.arms} arms` }];
  const range = feedbackRange(e, metric);
  if (range === undefined) {
    const takes = [...(e.metrics?.keys() ?? [])].join(", ");
    return [
      {
        field: "metric",
        message: `${JSON.stringify(metric)} is not a feedback metric of experiment ${name} (it takes ${takes})`,
      },
    ];
  }
  if (value < range.min || value > range.max)
    return [
      { field: "value", message: `must be from ${range.min} to ${range.max} for metric ${JSON.stringify(metric)}, got ${value}` },
    ];
  return [];
}

/**
 * Checks `input` against `targets` (the current snapshot's; undefined before the first) and
 * `desk`'s replay window, hands it to the listener and records its key; answers what the ref
 * named. Refusals throw (see the file comment) and record nothing.
 */
export function acceptFeedback(
  input: FeedbackInput,
  targets: FeedbackTargets | undefined,
  desk: FeedbackDesk,
  nowMs = Date.now(),
): { experiment: string; arm: number } {
  const results = desk.replays.results;
  try {
    const r = accept(input, targets, desk, nowMs);
    results.accepted++;
    return r;
  } catch (err) {
    if (err instanceof TurnoutError && err.code === ErrorCode.AlreadyExists) results.replayed++;
    else results.refused++;
    throw err;
  }
}

function accept(
  input: FeedbackInput,
  targets: FeedbackTargets | undefined,
  desk: FeedbackDesk,
  nowMs: number,
): { experiment: string; arm: number } {
  const { violations, fields } = checkInput(input, desk.refKey);
  if (violations.length > 0 || fields === undefined) throw invalidArgument(violations);
  if (targets === undefined) throw new TurnoutError(ErrorCode.Unavailable, "no routing snapshot yet");
  const metric = input.metric as string;
  const value = input.value as number;
  const problems = checkTarget(fields, metric, value, targets, nowMs);
  if (problems.length > 0) throw invalidArgument(problems);

  const { window } = desk.replays;
  window.expire(nowMs - targets.ttlMs);
  const key = feedbackReplayKey(input.ref as string, metric);
  const known = window.check(key, fields.issuedAt);
  if (known === ReplayCheck.BelowFloor) {
    const since = new Date(window.floorMs).toISOString();
    throw invalidArgument([
      {
        field: "ref",
        message: `expired (issued before ${since}, the start of this proxy's replay window of ${window.capacity} keys)`,
      },
    ]);
  }
  if (known === ReplayCheck.Seen) {
    const message = `feedback on metric ${JSON.stringify(metric)} for this answer was accepted already (a ref takes one value per metric)`;
    throw new TurnoutError(ErrorCode.AlreadyExists, `ref: ${message}`, { violations: [{ field: "ref", message }] });
  }
  desk.replays.accepted(key, fields.issuedAt);
  desk.listener?.({
    experiment: fields.experiment,
    phase: fields.phase,
    arm: fields.arm,
    unitHash: fields.unitHash,
    requestId: fields.requestId,
    metric,
    value,
    receivedAtMs: nowMs,
    replayKey: key,
    refIssuedAtMs: fields.issuedAt,
  });
  return { experiment: fields.experiment, arm: fields.arm };
}
