/**
 * The proxy's outcome record in its wire form: one `turnout.v1.Outcome` per request, in a binary
 * `OutcomeBatch` per log entry. Conversion happens once per batch, off the request path.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { OutcomeBatchSchema, OutcomeSchema, type Outcome as OutcomeMessage } from "../../../gen/turnout/v1/events_pb.js";
import type { Outcome } from "../outcome.ts";

/** Epoch ms with sub-millisecond precision (distinguishes requests ending in the same ms). */
export function preciseNowMs(): number {
  return performance.timeOrigin + performance.now();
}

function timestampOf(ms: number) {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6));
  const t = timestampFromMs(seconds * 1000);
  t.nanos = nanos;
  return t;
}

/** The wire form of `o`, served by `proxy`, ended at `finishedAtMs` (epoch ms). */
export function toOutcomeMessage(o: Outcome, proxy: string, finishedAtMs: number): OutcomeMessage {
  return create(OutcomeSchema, {
    requestId: o.requestId,
    proxy,
    snapshotVersion: BigInt(o.snapshotVersion),
    route: o.route,
    variant: o.variant,
    arm: o.armIndex ?? -1,
    unitHash: o.bucket ?? -1,
    node: o.node,
    status: o.status,
    httpStatus: o.httpStatus,
    latencyMs: o.latencyMs,
    ttftMs: o.ttftMs,
    promptTokens: o.promptTokens,
    completionTokens: o.completionTokens,
    tokensPerSecond: o.tokensPerSecond,
    finishedAt: timestampOf(finishedAtMs),
  });
}

/** Encodes outcomes (with their end times) as a binary OutcomeBatch. */
export function encodeOutcomeBatch(proxy: string, outcomes: readonly Outcome[], finishedAtMs: readonly number[]): Uint8Array {
  const batch = create(OutcomeBatchSchema, { proxy });
  for (let i = 0; i < outcomes.length; i++) batch.outcomes.push(toOutcomeMessage(outcomes[i], proxy, finishedAtMs[i]));
  return toBinary(OutcomeBatchSchema, batch);
}
