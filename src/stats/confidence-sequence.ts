/**
 * Half-widths of GrowthBook's asymptotic confidence sequences (Waudby-Smith et al., "Time-uniform
 * central limit theory and asymptotic confidence sequences", arXiv 2103.06476): intervals that
 * stay valid however often they are looked at. One formula for the two-sided interval and the
 * one-sided bound, shared by every sequential test in this folder. Pure functions.
 *
 * With n units in total (both arms), the estimate's standard error SE, s² = n·SE², level α and
 * tuning N* (the bound is tightest near N* units):
 *   ρ = √((−2 ln α′ + ln(−2 ln α′ + 1)) / N*),   α′ = α (two-sided) or 2α (one-sided)
 *   h = √( s² · 2(nρ² + 1)/(nρ)² · ln L ),       L = √(nρ² + 1)/α (two-sided, eq. 9)
 *                                                 L = 1 + √(nρ² + 1)/(2α) (one-sided, eq. 134)
 */

/** GrowthBook's default tuning N*. */
export const DEFAULT_TUNING = 5000;

/** Two-sided interval or one-sided bound. */
export type Sides = 1 | 2;

/** ρ of the confidence sequence at level `alpha`, tuning `tuning`, for `sides` sides. */
export function sequentialRho(alpha: number, tuning = DEFAULT_TUNING, sides: Sides = 2): number {
  const a = sides === 2 ? alpha : 2 * alpha;
  const l = -2 * Math.log(a);
  return Math.sqrt((l + Math.log(l + 1)) / tuning);
}

/** Options of {@link confidenceSequenceHalfwidth}. */
export interface ConfidenceSequenceOptions {
  /** Tuning N*. Default {@link DEFAULT_TUNING}. */
  tuning?: number;
  /** 2 for a two-sided interval (default), 1 for a one-sided bound. */
  sides?: Sides;
  /** ρ to use instead of the one derived from alpha and tuning. */
  rho?: number;
}

/**
 * Half-width of the always-valid interval (or one-sided bound) of an estimate with standard
 * error `se` from `n` units in total, at level `alpha`. Infinite when there are no units or the
 * standard error is not a number.
 */
export function confidenceSequenceHalfwidth(
  se: number,
  n: number,
  alpha: number,
  options: ConfidenceSequenceOptions = {},
): number {
  if (!(n > 0) || !(se >= 0)) return Infinity;
  const sides = options.sides ?? 2;
  const rho = options.rho ?? sequentialRho(alpha, options.tuning, sides);
  const nr2 = n * rho * rho;
  const root = Math.sqrt(nr2 + 1);
  const logTerm = sides === 2 ? Math.log(root / alpha) : Math.log(1 + root / (2 * alpha));
  const s2 = se * se * n;
  return Math.sqrt((s2 * 2 * (nr2 + 1) * logTerm) / (n * rho) ** 2);
}
