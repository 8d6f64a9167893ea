/**
 * The proxy's outcome record in its wire form: one `turnout.v1.Outcome` per request, in a binary
 * `OutcomeBatch` per log entry. Encoded field by field with the protobuf BinaryWriter (no message
 * objects are built: this runs for every request); accepted feedback rides in the same batch as
 * `turnout.v1.Feedback` entries (field 3). `test/metrics/outcome-record.test.ts` checks the bytes
 * decode to what `create(OutcomeSchema, …)` / `create(FeedbackSchema, …)` would hold.
 */
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { FeedbackEntry } from "../feedback/accept-feedback.ts";
import type { Outcome } from "../outcome.ts";

/** Epoch ms with sub-millisecond precision (distinguishes requests ending in the same ms). */
export function preciseNowMs(): number {
  return performance.timeOrigin + performance.now();
}

function str(w: BinaryWriter, field: number, value: string): void {
  if (value !== "") w.tag(field, WireType.LengthDelimited).string(value);
}

function double(w: BinaryWriter, field: number, value: number): void {
  if (value !== 0) w.tag(field, WireType.Bit64).double(value);
}

function uint32(w: BinaryWriter, field: number, value: number): void {
  if (value !== 0) w.tag(field, WireType.Varint).uint32(value);
}

function int32(w: BinaryWriter, field: number, value: number): void {
  if (value !== 0) w.tag(field, WireType.Varint).int32(value);
}

/** Writes a Timestamp of `ms` (epoch ms, sub-ms allowed) as field `field`. */
function timestamp(w: BinaryWriter, field: number, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6));
  w.tag(field, WireType.LengthDelimited).fork();
  if (seconds !== 0) w.tag(1, WireType.Varint).int64(seconds);
  int32(w, 2, nanos);
  w.join();
}

/** Writes `f` (accepted by `proxy`) as field 3 of the batch. */
function writeFeedback(w: BinaryWriter, f: FeedbackEntry, proxy: string): void {
  w.tag(3, WireType.LengthDelimited).fork();
  str(w, 1, f.experiment);
  uint32(w, 2, f.phase);
  int32(w, 3, f.arm);
  uint32(w, 4, parseInt(f.unitHash, 16) >>> 0);
  str(w, 5, f.requestId);
  str(w, 6, f.metric);
  double(w, 7, f.value);
  str(w, 8, proxy);
  timestamp(w, 9, f.receivedAtMs);
  if (f.replayKey !== undefined) w.tag(10, WireType.Varint).uint64(f.replayKey);
  if (f.refIssuedAtMs !== undefined) timestamp(w, 11, f.refIssuedAtMs);
  w.join();
}

/** Writes `o` (served by `proxy`, ended at `finishedAtMs`) as field `field` of the batch. */
function writeOutcome(w: BinaryWriter, o: Outcome, proxy: string, finishedAtMs: number): void {
  w.tag(2, WireType.LengthDelimited).fork();
  str(w, 1, o.requestId);
  str(w, 2, proxy);
  if (o.snapshotVersion !== 0) w.tag(3, WireType.Varint).uint64(o.snapshotVersion);
  str(w, 4, o.route);
  str(w, 5, o.variant);
  int32(w, 6, o.armIndex ?? -1);
  int32(w, 7, o.bucket ?? -1);
  str(w, 8, o.node);
  str(w, 9, o.status);
  uint32(w, 10, o.httpStatus);
  double(w, 11, o.latencyMs);
  double(w, 12, o.ttftMs);
  uint32(w, 13, o.promptTokens);
  uint32(w, 14, o.completionTokens);
  double(w, 15, o.tokensPerSecond);
  timestamp(w, 16, finishedAtMs);
  if (o.experiment) {
    str(w, 17, o.experiment);
    uint32(w, 18, o.experimentPhase ?? 0);
    w.tag(19, WireType.Varint).int32(o.armIndex ?? -1);
    if (o.unitHash !== "") uint32(w, 20, parseInt(o.unitHash, 16) >>> 0);
  }
  w.join();
}

/** Encodes outcomes (with their end times) and accepted feedback as a binary OutcomeBatch. */
export function encodeOutcomeBatch(
  proxy: string,
  outcomes: readonly Outcome[],
  finishedAtMs: readonly number[],
  feedback: readonly FeedbackEntry[] = [],
): Uint8Array {
  const w = new BinaryWriter();
  str(w, 1, proxy);
  for (let i = 0; i < outcomes.length; i++) writeOutcome(w, outcomes[i], proxy, finishedAtMs[i]);
  for (const f of feedback) writeFeedback(w, f, proxy);
  return w.finish();
}
