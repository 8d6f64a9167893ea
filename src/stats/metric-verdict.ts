/**
 * A plain-language verdict for one metric of an experiment, direction-aware: "B is 12% faster
 * to first token (p=0.003)", "no difference in thumbs-up yet: need about 4,800 more users".
 * Lower is better for latency and error rate, higher for success rate, thumbs-up and tokens/s.
 * Pure function over a test result (`welchTest` or `sequentialInterval`) and, optionally,
 * `usersNeeded`; verdicts of several metrics join with "; ". Significance and the quoted p are
 * those of the absolute difference; the percentage is the relative lift.
 */
import type { UsersNeeded } from "./sample-size.ts";
import type { SequentialResult } from "./sequential-interval.ts";
import type { WelchInsufficient, WelchResult } from "./welch-test.ts";

/** Which way a metric should move. */
export const Direction = {
  Higher: "higher",
  Lower: "lower",
} as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

/** How a metric is named and phrased. Templates take `{arm}` and `{pct}`. */
export interface VerdictMetric {
  /** Name in "no difference in <name>" (e.g. "thumbs-up"). */
  name: string;
  /** Whether higher or lower values are better. */
  direction: Direction;
  /** Phrase when the treatment's value is higher. Default "{arm} is {pct} higher on <name>". */
  increase?: string;
  /** Phrase when the treatment's value is lower. Default "{arm} is {pct} lower on <name>". */
  decrease?: string;
}

/** Phrasing of the metrics a Turnout report carries. */
export const VerdictMetrics = {
  latency: {
    name: "latency",
    direction: "lower",
    increase: "{arm} is {pct} slower end to end",
    decrease: "{arm} is {pct} faster end to end",
  },
  timeToFirstToken: {
    name: "time to first token",
    direction: "lower",
    increase: "{arm} is {pct} slower to first token",
    decrease: "{arm} is {pct} faster to first token",
  },
  errorRate: {
    name: "error rate",
    direction: "lower",
    increase: "{arm} has a {pct} higher error rate",
    decrease: "{arm} has a {pct} lower error rate",
  },
  successRate: {
    name: "success rate",
    direction: "higher",
    increase: "{arm} has a {pct} higher success rate",
    decrease: "{arm} has a {pct} lower success rate",
  },
  tokensPerSecond: {
    name: "tokens/s",
    direction: "higher",
    increase: "{arm} generates {pct} more tokens/s",
    decrease: "{arm} generates {pct} fewer tokens/s",
  },
  thumbsUp: {
    name: "thumbs-up",
    direction: "higher",
    increase: "{arm} gets {pct} more thumbs-up",
    decrease: "{arm} gets {pct} fewer thumbs-up",
  },
} as const satisfies Record<string, VerdictMetric>;

/** What the verdict concluded. */
export const Outcome = {
  Better: "better",
  Worse: "worse",
  NoDifference: "no-difference",
  Insufficient: "insufficient",
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** Input of {@link metricVerdict}. */
export interface VerdictInput {
  /** The treatment arm's name ("B"). */
  arm: string;
  /** The metric and its phrasing (see {@link VerdictMetrics}). */
  metric: VerdictMetric;
  /** The test of this arm against control. */
  test: WelchResult | SequentialResult | WelchInsufficient;
  /** Significance level. Default 0.05. */
  alpha?: number;
  /** Users still needed (from usersNeeded) when there is no significant difference. */
  needed?: UsersNeeded;
}

/** The verdict: an outcome and one sentence. */
export interface Verdict {
  /** Better or worse for the treatment (by the metric's direction), no difference, or too little data. */
  outcome: Outcome;
  /** The sentence. */
  text: string;
}

/** "12%", "3.4%", "0.052%". */
export function formatPercent(fraction: number): string {
  const v = Math.abs(fraction) * 100;
  if (v >= 10) return `${Math.round(v)}%`;
  if (v >= 1) return `${Number(v.toFixed(1))}%`;
  return `${Number(v.toPrecision(2))}%`;
}

/**
 * "p=0.41", "p=0.003", "p<0.001". Below 0.1 two significant digits, rounded down, so a p-value
 * just under a threshold never prints as the threshold (0.0496 → "p=0.049").
 */
export function formatPValue(p: number): string {
  if (p < 0.001) return "p<0.001";
  if (p >= 0.1) return `p=${Number(p.toFixed(2))}`;
  const unit = 10 ** (Math.floor(Math.log10(p)) - 1);
  return `p=${Number((Math.floor((p / unit) * (1 + 1e-12)) * unit).toPrecision(2))}`;
}

/** A user count rounded up to two significant figures, with thousands separators ("4,800"). */
export function formatUsers(n: number): string {
  const magnitude = n >= 100 ? 10 ** (Math.floor(Math.log10(n)) - 1) : 1;
  return new Intl.NumberFormat("en-US").format(Math.ceil(n / magnitude) * magnitude);
}

/** One sentence on one metric of one arm against control. */
export function metricVerdict(input: VerdictInput): Verdict {
  const { arm, metric, test } = input;
  const alpha = input.alpha ?? 0.05;
  if (test.status === "insufficient") return { outcome: Outcome.Insufficient, text: `not enough data on ${metric.name} yet` };
  // Significance comes from the test of the difference (H0 Δ = 0, the same null as lift = 0): it
  // holds its level better than the delta-method lift, whose ratio of two noisy means is skewed
  // at a few hundred users per arm (false positives at α 0.05 over 10,000 runs of the A/A model
  // in test/stats/stats-simulation.test.ts, error rate: 4.6 % for the difference, 5.7 % for the
  // lift). The lift is what the sentence reports.
  const decision = test.absolute;
  const effect = test.relative ?? test.absolute;
  const p = formatPValue(decision.pValue);
  if (decision.pValue < alpha && decision.estimate !== 0) {
    const up = decision.estimate > 0;
    const good = up === (metric.direction === Direction.Higher);
    const outcome = good ? Outcome.Better : Outcome.Worse;
    if (test.relative === null) {
      const sign = up ? "+" : "−";
      return {
        outcome,
        text: `${arm} is ${outcome} on ${metric.name} (${sign}${Number(Math.abs(effect.estimate).toPrecision(2))}, ${p})`,
      };
    }
    const template = up
      ? (metric.increase ?? `{arm} is {pct} higher on ${metric.name}`)
      : (metric.decrease ?? `{arm} is {pct} lower on ${metric.name}`);
    const phrase = template.replaceAll("{arm}", arm).replaceAll("{pct}", formatPercent(effect.estimate));
    return { outcome, text: `${phrase} (${p})` };
  }
  const remaining = input.needed?.remaining;
  let text: string;
  if (remaining === undefined || remaining === Infinity) text = `no difference in ${metric.name} yet (${p})`;
  else if (remaining > 0) text = `no difference in ${metric.name} yet: need about ${formatUsers(remaining)} more users`;
  else text = `no difference in ${metric.name} (${p})`;
  return { outcome: Outcome.NoDifference, text };
}
