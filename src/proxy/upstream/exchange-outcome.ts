/**
 * The outcome record of a finished exchange: what the listener (metrics, the outcome batcher) is
 * told once per request — ids, route, variant and arm (or experiment arm), node, status, latency,
 * time to first token, tokens and tokens/s.
 */
import type { OutcomeListener, OutcomeStatus } from "../outcome.ts";
import type { CompiledNode } from "../snapshot/compiled-route.ts";
import type { AnswerTally } from "./answer-relay.ts";
import type { ExchangeInit } from "./exchange-init.ts";

/**
 * Tells `listener` how the exchange described by `init` ended. `firstByteAt` is `performance.now()`
 * of the answer's first byte (-1 for none); a throwing listener is ignored.
 */
export function emitOutcome(
  listener: OutcomeListener,
  init: ExchangeInit,
  node: CompiledNode | null,
  status: OutcomeStatus,
  httpStatus: number,
  firstByteAt: number,
  tally: AnswerTally | null,
): void {
  const now = performance.now();
  const completion = tally?.completionTokens ?? 0;
  let tps = 0;
  if (tally !== null && tally.evalDurationNs > 0) tps = (completion * 1e9) / tally.evalDurationNs;
  else if (completion > 0 && firstByteAt >= 0 && now > firstByteAt) tps = (completion * 1000) / (now - firstByteAt);
  const a = init.assignment;
  try {
    listener({
      requestId: init.requestId,
      snapshotVersion: init.table.version,
      route: init.route.name,
      variant: a.variant.name,
      arm: a.arm,
      unitHash: a.unitHash,
      bucket: a.bucket,
      armIndex:
        a.experiment !== undefined
          ? a.experiment.arm
          : a.bucket >= 0 && init.route.buckets !== null
            ? init.route.buckets[a.bucket]
            : -1,
      experiment: a.experiment?.id ?? "",
      experimentPhase: a.experiment?.phase ?? 0,
      node: node?.id ?? "",
      status,
      httpStatus,
      latencyMs: now - init.startedAt,
      ttftMs: firstByteAt < 0 ? -1 : firstByteAt - init.startedAt,
      promptTokens: tally?.promptTokens ?? 0,
      completionTokens: completion,
      tokensPerSecond: tps,
    });
  } catch {
    // A listener must not break the proxy.
  }
}
