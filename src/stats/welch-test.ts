/**
 * Welch's two-sample t test of treatment against control on per-user moments
 * ({@link ArmMoments}): the absolute difference and the relative lift, each with its standard
 * error, confidence interval and p-value; degrees of freedom by Welch–Satterthwaite. Pure
 * function; reproduces gbstats' frequentist `TwoSidedTTest` / `OneSidedTreatment*TTest`.
 *
 * Relative lift Δ/|μ_c| with the delta-method variance of a ratio of two independent means:
 *   Var ≈ (σ_t²/n_t)/μ_c² + (σ_c²/n_c)·μ_t²/μ_c⁴.
 * Both use the Welch degrees of freedom of the absolute difference, as gbstats does.
 */
import type { ArmMoments } from "./ratio-moments.ts";
import { studentTCdf, studentTQuantile, studentTSf } from "./student-t-distribution.ts";

/** Which alternative hypothesis the p-value and interval are for. */
export const Alternative = {
  TwoSided: "two-sided",
  /** Treatment greater than control: interval [lower, ∞). */
  Greater: "greater",
  /** Treatment less than control: interval (−∞, upper]. */
  Less: "less",
} as const;
export type Alternative = (typeof Alternative)[keyof typeof Alternative];

/** One effect (absolute difference or relative lift) with its inference. */
export interface Effect {
  /** Point estimate: μ_t − μ_c, or (μ_t − μ_c)/|μ_c|. */
  estimate: number;
  /** Its standard error. */
  se: number;
  /** Confidence interval at 1 − α (one end infinite for one-sided alternatives). */
  ci: [number, number];
  /** p-value of "no effect" against the chosen alternative. */
  pValue: number;
}

/** Options of {@link welchTest}. */
export interface WelchOptions {
  /** Significance level; the interval has coverage 1 − alpha. Default 0.05. */
  alpha?: number;
  /** Alternative hypothesis. Default two-sided. */
  alternative?: Alternative;
}

/** A test that could be computed. */
export interface WelchResult {
  status: "ok";
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** Treatment minus control. */
  absolute: Effect;
  /** Relative lift against control; null when the control mean is 0. */
  relative: Effect | null;
}

/** Why a test could not be computed (too few users, or no variance at all). */
export interface WelchInsufficient {
  status: "insufficient";
  /** Human-readable reason. */
  reason: string;
}

/** Estimate and standard errors of both effects, and the Welch degrees of freedom. */
export interface EffectMoments {
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** μ_t − μ_c and its standard error. */
  absolute: { estimate: number; se: number };
  /** (μ_t − μ_c)/|μ_c| and its delta-method standard error; null when μ_c = 0. */
  relative: { estimate: number; se: number } | null;
}

/**
 * Point estimates, standard errors and Welch degrees of freedom of treatment vs control, or the
 * reason they cannot be computed (fewer than 2 users in an arm, or zero variance in both).
 */
export function effectMoments(control: ArmMoments, treatment: ArmMoments): EffectMoments | WelchInsufficient {
  if (control.n < 2 || treatment.n < 2) return { status: "insufficient", reason: "fewer than 2 users in an arm" };
  const vc = control.variance / control.n;
  const vt = treatment.variance / treatment.n;
  if (!(vc >= 0) || !(vt >= 0) || !(vc + vt > 0)) return { status: "insufficient", reason: "no variance in either arm" };
  const df = (vc + vt) ** 2 / (vt ** 2 / (treatment.n - 1) + vc ** 2 / (control.n - 1));
  const difference = treatment.mean - control.mean;
  const absolute = { estimate: difference, se: Math.sqrt(vc + vt) };
  let relative = null;
  if (control.mean !== 0) {
    const mc = control.mean;
    const variance = vt / mc ** 2 + (vc * treatment.mean ** 2) / mc ** 4;
    relative = { estimate: difference / Math.abs(mc), se: Math.sqrt(variance) };
  }
  return { df, absolute, relative };
}

/**
 * Welch's t test of `treatment` against `control`.
 * @throws RangeError when `alpha` is not in (0, 1).
 */
export function welchTest(
  control: ArmMoments,
  treatment: ArmMoments,
  options: WelchOptions = {},
): WelchResult | WelchInsufficient {
  const alpha = options.alpha ?? 0.05;
  const alternative = options.alternative ?? Alternative.TwoSided;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha: must be in (0, 1), got ${alpha}`);
  const m = effectMoments(control, treatment);
  if ("status" in m) return m;
  const infer = (e: { estimate: number; se: number }): Effect => {
    const t = e.estimate / e.se;
    if (alternative === Alternative.TwoSided) {
      const h = studentTQuantile(1 - alpha / 2, m.df) * e.se;
      return { ...e, ci: [e.estimate - h, e.estimate + h], pValue: 2 * studentTSf(Math.abs(t), m.df) };
    }
    const h = studentTQuantile(1 - alpha, m.df) * e.se;
    if (alternative === Alternative.Greater) return { ...e, ci: [e.estimate - h, Infinity], pValue: studentTSf(t, m.df) };
    return { ...e, ci: [-Infinity, e.estimate + h], pValue: studentTCdf(t, m.df) };
  };
  return { status: "ok", df: m.df, absolute: infer(m.absolute), relative: m.relative && infer(m.relative) };
}
