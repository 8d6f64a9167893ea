/**
 * Two-sided sequential (always-valid) test of treatment against control: the absolute
 * difference and the relative lift with confidence-sequence intervals and always-valid
 * p-values, safe to recompute after every new user without inflating the false-positive rate.
 * Reproduces gbstats' `SequentialTwoSidedTTest`. Pure function.
 *
 * Estimates and standard errors are Welch's ({@link effectMoments}); the interval is
 * estimate ± {@link confidenceSequenceHalfwidth}; the p-value is 1/e (capped at 1) for the
 * mixture e-value e = exp(ρ²·S²/(2(nρ²+1))) / √(nρ²+1), S² = n·estimate²/SE² (eq. 155 of arXiv
 * 2103.06476).
 */
import { confidenceSequenceHalfwidth, DEFAULT_TUNING, sequentialRho } from "./confidence-sequence.ts";
import type { ArmMoments } from "./ratio-moments.ts";
import { effectMoments, type Effect, type WelchInsufficient } from "./welch-test.ts";

/** Options of {@link sequentialInterval}. */
export interface SequentialOptions {
  /** Significance level. Default 0.05. */
  alpha?: number;
  /** Tuning N*: the interval is tightest near this many users in total. Default 5000. */
  tuning?: number;
}

/** A sequential test that could be computed. */
export interface SequentialResult {
  status: "ok";
  /** Users in both arms (the n of the confidence sequence). */
  n: number;
  /** Treatment minus control, always-valid interval and p-value. */
  absolute: Effect;
  /** Relative lift with its always-valid interval and p-value; null when the control mean is 0. */
  relative: Effect | null;
}

/**
 * Always-valid two-sided interval and p-value of treatment vs control, or why none can be
 * computed (see {@link effectMoments}).
 * @throws RangeError when `alpha` is not in (0, 1) or `tuning` is not positive.
 */
export function sequentialInterval(
  control: ArmMoments,
  treatment: ArmMoments,
  options: SequentialOptions = {},
): SequentialResult | WelchInsufficient {
  const alpha = options.alpha ?? 0.05;
  const tuning = options.tuning ?? DEFAULT_TUNING;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha: must be in (0, 1), got ${alpha}`);
  if (!(tuning > 0) || !Number.isFinite(tuning)) throw new RangeError(`tuning: must be a positive number, got ${tuning}`);
  const m = effectMoments(control, treatment);
  if ("status" in m) return m;
  const n = control.n + treatment.n;
  const rho = sequentialRho(alpha, tuning, 2);
  const infer = (e: { estimate: number; se: number }): Effect => {
    const h = confidenceSequenceHalfwidth(e.se, n, alpha, { rho, sides: 2 });
    const s2 = (e.estimate * e.estimate * n) / (e.se * e.se);
    const nr2p1 = n * rho * rho + 1;
    const logE = (rho * rho * s2) / (2 * nr2p1) - 0.5 * Math.log(nr2p1);
    return { ...e, ci: [e.estimate - h, e.estimate + h], pValue: Math.min(1, Math.exp(-logE)) };
  };
  return { status: "ok", n, absolute: infer(m.absolute), relative: m.relative && infer(m.relative) };
}
