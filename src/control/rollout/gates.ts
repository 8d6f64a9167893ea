/**
 * Rollout gates (pure): the canary's and the stable variant's live metrics over a window in, one
 * GateReport with every gate's verdict and numbers out.
 *
 * - Absolute gates judge the canary alone over the current step's window: error rate ≤ X, p99
 *   time to first token ≤ Y ms, tokens/s ≥ Z, each only once the window holds `min_samples`
 *   canary requests (fewer: INSUFFICIENT, the step holds).
 * - The relative gate is a one-sided sequential test (src/stats/sequential-bound.ts) of the
 *   canary's error rate against the stable variant's over the window since the first step: it
 *   fails as soon as the always-valid lower bound of (canary − stable) is above 0, once each
 *   variant has `relative_min_samples` requests. Requests are the unit: the live metrics are per
 *   request, not per user, so the bound is somewhat optimistic when users send bursts (a false
 *   rollback is cheap; a missed one is not).
 *
 * Errors are every outcome class except "ok" and "client_gone" (a client leaving is not the
 * variant's fault).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  GateReportSchema,
  GateVerdict,
  type GateReport,
  type GateResult,
  type RolloutGates,
  type VariantSample,
} from "../../../gen/turnout/v1/rollout_pb.js";
import { harmIncreaseTest } from "../../stats/sequential-bound.ts";
import type { SeriesStats } from "../metrics/outcome-aggregator.ts";

/** Defaults of RolloutGates' zero values. */
export const GATE_DEFAULTS = { minSamples: 30, failureLimit: 1, relativeAlpha: 0.05, relativeMinSamples: 150 } as const;

/** Outcome classes that do not count as the variant's errors. */
const NOT_ERRORS = new Set(["client_gone"]);

/** The sample of `variant` in a window's series (zeros when it had no requests). */
export function variantSample(variant: string, series: SeriesStats | undefined): VariantSample {
  const requests = series?.requests ?? 0;
  let errors = 0;
  let gone = 0;
  for (const [status, count] of Object.entries(series?.errors ?? {})) {
    if (NOT_ERRORS.has(status)) gone += count;
    else errors += count;
  }
  const counted = requests - gone;
  return {
    $typeName: "turnout.v1.VariantSample",
    variant,
    requests: BigInt(counted),
    errors: BigInt(errors),
    errorRate: counted > 0 ? errors / counted : 0,
    p99TtftMs: series?.ttftMs.count ? series.ttftMs.p99 : 0,
    tokensPerSecond: series?.tokensPerSecond ?? 0,
  };
}

/** What one evaluation looks at. */
export interface GateInput {
  gates: RolloutGates | undefined;
  /** Canary and stable over the step's window. */
  canary: VariantSample;
  stable: VariantSample;
  /** Canary and stable over the window since the first step (the relative gate). */
  canarySinceStart: VariantSample;
  stableSinceStart: VariantSample;
  step: number;
  canaryPercent: number;
  windowSeconds: number;
  relativeWindowSeconds: number;
  atMs: number;
}

const fmt = (x: number) => String(Number(x.toPrecision(3)));

function result(
  gate: string,
  verdict: GateVerdict,
  observed: number,
  threshold: number,
  samples: number,
  minSamples: number,
  detail: string,
  lowerBound = 0,
): GateResult {
  return {
    $typeName: "turnout.v1.GateResult",
    gate,
    verdict,
    observed,
    threshold,
    samples: BigInt(samples),
    minSamples: BigInt(minSamples),
    lowerBound,
    detail,
  };
}

/** Evaluates every configured gate. */
export function evaluateGates(input: GateInput): GateReport {
  const g = input.gates;
  const minSamples = g?.minSamples || GATE_DEFAULTS.minSamples;
  const n = Number(input.canary.requests);
  const results: GateResult[] = [];
  const absolute = (gate: string, observed: number, threshold: number, ok: boolean, what: string, op: string) => {
    if (n < minSamples) {
      results.push(
        result(
          gate,
          GateVerdict.INSUFFICIENT,
          observed,
          threshold,
          n,
          minSamples,
          `${n} of ${minSamples} canary requests needed`,
        ),
      );
    } else {
      const verdict = ok ? GateVerdict.PASS : GateVerdict.FAIL;
      results.push(
        result(
          gate,
          verdict,
          observed,
          threshold,
          n,
          minSamples,
          `${what} ${fmt(observed)} ${ok ? "within" : op} ${fmt(threshold)} over ${n} requests`,
        ),
      );
    }
  };
  if (g?.maxErrorRate !== undefined) {
    absolute("error_rate", input.canary.errorRate, g.maxErrorRate, input.canary.errorRate <= g.maxErrorRate, "error rate", ">");
  }
  if (g?.maxP99TtftMs !== undefined) {
    absolute(
      "p99_ttft_ms",
      input.canary.p99TtftMs,
      g.maxP99TtftMs,
      input.canary.p99TtftMs <= g.maxP99TtftMs,
      "p99 time to first token (ms)",
      ">",
    );
  }
  if (g?.minTokensPerSecond !== undefined) {
    absolute(
      "tokens_per_second",
      input.canary.tokensPerSecond,
      g.minTokensPerSecond,
      input.canary.tokensPerSecond >= g.minTokensPerSecond,
      "tokens/s",
      "<",
    );
  }
  if (!g?.disableRelative) {
    const alpha = g?.relativeAlpha || GATE_DEFAULTS.relativeAlpha;
    const relMin = g?.relativeMinSamples || GATE_DEFAULTS.relativeMinSamples;
    const c = input.canarySinceStart;
    const s = input.stableSinceStart;
    const t = harmIncreaseTest(
      { n: Number(c.requests), events: Number(c.errors) },
      { n: Number(s.requests), events: Number(s.errors) },
      { alpha, minSamples: relMin },
    );
    const samples = Math.min(Number(c.requests), Number(s.requests));
    const numbers = `canary ${fmt(c.errorRate)} (${c.errors}/${c.requests}) vs stable ${fmt(s.errorRate)} (${s.errors}/${s.requests}): difference ${fmt(t.difference)}, lower bound ${fmt(t.lowerBound)} at α ${alpha}`;
    if (!t.enough)
      results.push(
        result(
          "relative_error_rate",
          GateVerdict.INSUFFICIENT,
          t.difference,
          0,
          samples,
          relMin,
          `${numbers}; ${relMin} requests per variant needed`,
          t.lowerBound,
        ),
      );
    else
      results.push(
        result(
          "relative_error_rate",
          t.harmful ? GateVerdict.FAIL : GateVerdict.PASS,
          t.difference,
          0,
          samples,
          relMin,
          `${numbers}${t.harmful ? " > 0" : " ≤ 0"}`,
          t.lowerBound,
        ),
      );
  }
  const verdicts = results.map((r) => r.verdict);
  // The relative gate alone never holds a step: without enough stable traffic it cannot judge, and
  // the absolute gates (or the interval) decide.
  // Nor does a step advance before the canary served `min_samples` requests in it, gates or not.
  const holding =
    n < minSamples || results.some((r) => r.verdict === GateVerdict.INSUFFICIENT && r.gate !== "relative_error_rate");
  const verdict = verdicts.includes(GateVerdict.FAIL) ? GateVerdict.FAIL : holding ? GateVerdict.INSUFFICIENT : GateVerdict.PASS;
  return create(GateReportSchema, {
    at: timestampFromMs(input.atMs),
    step: input.step,
    canaryPercent: input.canaryPercent,
    windowSeconds: input.windowSeconds,
    relativeWindowSeconds: input.relativeWindowSeconds,
    canary: input.canary,
    stable: input.stable,
    results,
    verdict,
  });
}

/** The failed gates' details, joined ("" when none failed). */
export function failureSummary(report: GateReport): string {
  return report.results
    .filter((r) => r.verdict === GateVerdict.FAIL)
    .map((r) => `${r.gate}: ${r.detail}`)
    .join("; ");
}

/** Whether the relative gate failed (it rolls back at once, whatever the failure limit). */
export function relativeFailed(report: GateReport): boolean {
  return report.results.some((r) => r.gate === "relative_error_rate" && r.verdict === GateVerdict.FAIL);
}
