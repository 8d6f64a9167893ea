/**
 * Feedback on an answer given in an experiment, shared by `POST /v1/feedback` and
 * `ChatService.Feedback`: the client sends back the answer's `x-turnout-ref` with a metric name
 * and a value. The ref is verified with the proxy's key (HMAC-SHA256, see feedback-ref.ts) and
 * only then trusted for the experiment, phase, arm, unit hash and request id; the metric must be
 * `[a-z0-9_.-]{1,64}` and the value a finite number. Anything wrong is one `invalid_argument`
 * error naming every bad field (`ref: bad signature`), and nothing is recorded; accepted feedback
 * goes to the outcome batcher (the same batches, retries, dedupe ids and log as outcomes).
 */
import { RefProblem, verifyRef, type RefFields } from "../../assign/feedback-ref.ts";
import { invalidArgument, type FieldViolation } from "../../errors.ts";
import type { KeyObject } from "node:crypto";

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
}

/** Receives accepted feedback; must not throw. */
export type FeedbackListener = (feedback: FeedbackEntry) => void;

/** What a client sent (unchecked). */
export interface FeedbackInput {
  readonly ref: unknown;
  readonly metric: unknown;
  readonly value: unknown;
}

/** Metric names: lower-case letters, digits, `_`, `.` and `-`, 1 to 64 of them. */
const METRIC_NAME = /^[a-z0-9_.-]{1,64}$/;

/** The message for each way a ref can be rejected. */
const REF_MESSAGES: Record<RefProblem, string> = {
  [RefProblem.Malformed]: "malformed (not an x-turnout-ref)",
  [RefProblem.BadSignature]: "bad signature",
  [RefProblem.UnknownVersion]: "unknown ref version",
  [RefProblem.TooLong]: "too long",
};

/** The problems with `input`; empty when it is acceptable. The fields of a valid ref come back too. */
function checkFeedback(input: FeedbackInput, key: KeyObject): { violations: FieldViolation[]; fields?: RefFields } {
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
  if (typeof input.metric !== "string" || !METRIC_NAME.test(input.metric))
    violations.push({ field: "metric", message: "must be 1..64 characters of [a-z0-9_.-]" });
  if (typeof input.value !== "number" || !Number.isFinite(input.value))
    violations.push({ field: "value", message: "must be a finite number" });
  return { violations, fields };
}

/**
 * Checks `input` and hands it to `listener`; answers what the ref named. Bad input throws
 * `invalid_argument` naming the fields, and nothing is recorded.
 */
export function acceptFeedback(
  input: FeedbackInput,
  key: KeyObject,
  listener: FeedbackListener | undefined,
  nowMs = Date.now(),
): { experiment: string; arm: number } {
  const { violations, fields } = checkFeedback(input, key);
  if (violations.length > 0 || fields === undefined) throw invalidArgument(violations);
  listener?.({
    experiment: fields.experiment,
    phase: fields.phase,
    arm: fields.arm,
    unitHash: fields.unitHash,
    requestId: fields.requestId,
    metric: input.metric as string,
    value: input.value as number,
    receivedAtMs: nowMs,
  });
  return { experiment: fields.experiment, arm: fields.arm };
}
