/**
 * An experiment's report from its tally (pure): per arm users, requests, success and error
 * rates, latency and TTFT percentiles and means, tokens/s and feedback means; per treatment arm
 * and metric the lift against control (the first arm) with a Welch interval and p-value on
 * per-user ratios (delta-method variance, src/stats/ratio-moments.ts), the always-valid interval,
 * and a plain-language verdict; the sample-ratio check of the current phase against its weights;
 * users per arm per phase. The comparisons and the sample-ratio check use the current phase only:
 * a split change or a re-randomisation (a new phase) makes the earlier phases a different
 * population, and pooling them could reverse an effect (Simpson's paradox). The per-arm numbers
 * describe the whole experiment, users counted once however many phases they were in.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ExperimentReportSchema,
  type Experiment,
  type ExperimentMetricComparison,
  type ExperimentReport,
  ExperimentMetricComparisonSchema,
} from "../../../gen/turnout/v1/experiment_pb.js";
import { HistogramAccumulator, type SparseHistogram } from "../../stats/log-linear-histogram.ts";
import { metricVerdict, VerdictMetrics, type VerdictMetric } from "../../stats/metric-verdict.ts";
import { ratioMoments, ratioSums, type ArmMoments, type RatioUnit } from "../../stats/ratio-moments.ts";
import { sampleRatioMismatch } from "../../stats/sample-ratio-mismatch.ts";
import { usersNeeded } from "../../stats/sample-size.ts";
import { sequentialInterval } from "../../stats/sequential-interval.ts";
import { welchTest } from "../../stats/welch-test.ts";
import type { ArmTally, ExperimentTallyEntry, UnitTotals } from "./experiment-tally.ts";

/** A metric of the report: how to phrase it and each unit's numerator and denominator. */
interface ReportMetric {
  name: string;
  phrasing: VerdictMetric;
  /** The units of `arm` in the phase whose keys start with `prefix` ("2:"). */
  units(arm: ArmTally, prefix: string): Iterable<RatioUnit>;
}

/** A metric over the outcome units of an arm. */
function outcomeMetric(name: string, phrasing: VerdictMetric, unit: (u: UnitTotals) => RatioUnit): ReportMetric {
  return {
    name,
    phrasing,
    *units(arm, prefix) {
      for (const [key, u] of arm.units) if (key.startsWith(prefix)) yield unit(u);
    },
  };
}

const BUILT_IN: readonly ReportMetric[] = [
  outcomeMetric("ttft_ms", VerdictMetrics.timeToFirstToken, (u) => ({ numerator: u.ttftSum, denominator: u.ttftCount })),
  outcomeMetric("latency_ms", VerdictMetrics.latency, (u) => ({ numerator: u.latencySum, denominator: u.requests })),
  outcomeMetric("error_rate", VerdictMetrics.errorRate, (u) => ({ numerator: u.errors, denominator: u.requests })),
  outcomeMetric("tokens_per_second", VerdictMetrics.tokensPerSecond, (u) => ({ numerator: u.tpsSum, denominator: u.tpsCount })),
];

function feedbackMetric(name: string): ReportMetric {
  const phrasing: VerdictMetric =
    name === "thumbs_up" || name === "thumbs-up" ? VerdictMetrics.thumbsUp : { name, direction: "higher" };
  return {
    name,
    phrasing,
    *units(arm, prefix) {
      for (const [key, metrics] of arm.feedback) {
        if (!key.startsWith(prefix)) continue;
        const s = metrics.get(name);
        if (s !== undefined) yield { numerator: s.sum, denominator: s.count };
      }
    },
  };
}

function summary(h: SparseHistogram | undefined) {
  if (h === undefined || h.count === 0) return { p50: 0, p95: 0, p99: 0, mean: 0, count: 0n };
  const acc = new HistogramAccumulator();
  acc.merge(h);
  return { p50: acc.quantile(0.5), p95: acc.quantile(0.95), p99: acc.quantile(0.99), mean: acc.mean(), count: BigInt(acc.count) };
}

/** Moments of `metric` over the units of `arm` in the phase of `prefix` that have data for it (denominator > 0). */
function moments(arm: ArmTally | undefined, metric: ReportMetric, prefix: string): ArmMoments {
  const units: RatioUnit[] = [];
  if (arm !== undefined) for (const r of metric.units(arm, prefix)) if (r.denominator > 0) units.push(r);
  return ratioMoments(ratioSums(units));
}

/** Users among the units of `arm` (`${phase}:${unit}`), each counted once over all phases. */
function distinctUsers(arm: ArmTally, phases: number): number {
  if (phases <= 1) return arm.units.size;
  const users = new Set<string>();
  for (const k of arm.units.keys()) users.add(k.slice(k.indexOf(":") + 1));
  return users.size;
}

function compare(
  metric: ReportMetric,
  armName: string,
  control: ArmTally | undefined,
  treatment: ArmTally | undefined,
  prefix: string,
): ExperimentMetricComparison {
  const c = moments(control, metric, prefix);
  const t = moments(treatment, metric, prefix);
  const welch = welchTest(c, t);
  const out = create(ExperimentMetricComparisonSchema, {
    metric: metric.name,
    arm: armName,
    controlMean: c.mean,
    treatmentMean: t.mean,
  });
  let needed;
  if (welch.status === "ok" && c.mean !== 0) {
    try {
      needed = usersNeeded(c, t);
    } catch {
      needed = undefined;
    }
  }
  const verdict = metricVerdict({ arm: armName, metric: metric.phrasing, test: welch, needed });
  out.outcome = verdict.outcome;
  out.verdict = verdict.text;
  if (welch.status !== "ok") return out;
  const effect = welch.relative ?? welch.absolute;
  out.computed = true;
  out.lift = effect.estimate;
  out.liftCiLow = effect.ci[0];
  out.liftCiHigh = effect.ci[1];
  out.pValue = welch.absolute.pValue;
  const seq = sequentialInterval(c, t);
  if (seq.status === "ok") {
    const e = seq.relative ?? seq.absolute;
    out.sequentialLow = e.ci[0];
    out.sequentialHigh = e.ci[1];
    out.sequentialPValue = seq.absolute.pValue;
  }
  return out;
}

/** Users per arm in `phase` (units whose key starts with the phase). */
function usersInPhase(arms: (ArmTally | undefined)[], phase: number): bigint[] {
  const prefix = `${phase}:`;
  return arms.map((a) => {
    let n = 0;
    for (const k of a?.units.keys() ?? []) if (k.startsWith(prefix)) n++;
    return BigInt(n);
  });
}

/** The report of `experiment` from its tally (undefined: nothing counted yet) as of `nowMs`. */
export function buildExperimentReport(
  experiment: Experiment,
  entry: ExperimentTallyEntry | undefined,
  nowMs: number,
): ExperimentReport {
  const arms = experiment.arms.map((_, i) => entry?.arms.get(i));
  const phases = Math.max(1, experiment.phases.length);
  const current = experiment.phases.at(-1);
  const weights =
    current !== undefined && current.weights.length === experiment.arms.length
      ? current.weights
      : experiment.arms.map((a) => a.weight);
  const feedbackNames = new Set<string>();
  for (const a of arms) for (const metrics of a?.feedback.values() ?? []) for (const m of metrics.keys()) feedbackNames.add(m);
  const metrics = [...BUILT_IN, ...[...feedbackNames].sort().map(feedbackMetric)];

  const armReports = experiment.arms.map((arm, i) => {
    const t = arms[i];
    let requests = 0;
    let errors = 0;
    let tokens = 0;
    let tpsCount = 0;
    let tpsSum = 0;
    const fb = new Map<string, { count: number; sum: number; users: Set<string> }>();
    for (const u of t?.units.values() ?? []) {
      requests += u.requests;
      errors += u.errors;
      tokens += u.completionTokens;
      tpsCount += u.tpsCount;
      tpsSum += u.tpsSum;
    }
    for (const [key, metrics] of t?.feedback ?? []) {
      const user = key.slice(key.indexOf(":") + 1);
      for (const [m, s] of metrics) {
        const f = fb.get(m) ?? { count: 0, sum: 0, users: new Set<string>() };
        f.count += s.count;
        f.sum += s.sum;
        f.users.add(user);
        fb.set(m, f);
      }
    }
    return {
      name: arm.name,
      variant: arm.variant || arm.name,
      weight: weights[i] ?? arm.weight,
      users: BigInt(t === undefined ? 0 : distinctUsers(t, phases)),
      requests: BigInt(requests),
      successRate: requests > 0 ? (requests - errors) / requests : 0,
      errorRate: requests > 0 ? errors / requests : 0,
      latencyMs: summary(t?.latency),
      ttftMs: summary(t?.ttft),
      tokensPerSecond: tpsCount > 0 ? tpsSum / tpsCount : 0,
      completionTokens: BigInt(tokens),
      feedback: [...fb]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([metric, f]) => ({ metric, mean: f.sum / f.count, count: BigInt(f.count), users: BigInt(f.users.size) })),
    };
  });

  const comparisons: ExperimentMetricComparison[] = [];
  const prefix = `${phases - 1}:`;
  for (let i = 1; i < experiment.arms.length; i++) {
    for (const m of metrics) comparisons.push(compare(m, experiment.arms[i].name, arms[0], arms[i], prefix));
  }

  const exposures = Array.from({ length: phases }, (_, p) => ({ phase: p, users: usersInPhase(arms, p) }));
  const currentUsers = exposures[phases - 1].users.map(Number);
  const total = weights.reduce((s, w) => s + w, 0);
  const srm = total > 0 ? sampleRatioMismatch(currentUsers, weights) : { chi2: 0, pValue: 1, verdict: "ok" };
  const srmText =
    srm.verdict === "ok"
      ? ""
      : `sample ratio mismatch (χ² p=${srm.pValue.toPrecision(2)}): users per arm ${currentUsers.join("/")} do not match the weights ${weights.join("/")}; do not trust the comparisons`;

  return create(ExperimentReportSchema, {
    experimentId: experiment.id,
    name: experiment.name,
    status: experiment.status,
    generatedAt: timestampFromMs(nowMs),
    arms: armReports,
    comparisons,
    sampleRatio: {
      chi2: Number.isFinite(srm.chi2) ? srm.chi2 : Number.MAX_VALUE,
      pValue: srm.pValue,
      verdict: srm.verdict,
      warning: srm.verdict !== "ok",
      users: currentUsers.map(BigInt),
      expectedShares: weights.map((w) => (total > 0 ? w / total : 0)),
    },
    phases: exposures,
    verdict: [srmText, ...comparisons.map((c) => c.verdict)].filter((s) => s !== "").join("; "),
    outcomes: BigInt(entry?.outcomes ?? 0),
    comparedPhase: phases - 1,
  });
}
