/**
 * Survival function of the χ² distribution, accurate in relative terms far into the tail (an
 * SRM p-value of 4e-13 keeps its digits). Pure function.
 */
import { regularizedGamma } from "./regularized-gamma.ts";

/**
 * P(X > x) for X ~ χ² with `df` degrees of freedom: the regularised upper incomplete gamma
 * function Q(df/2, x/2).
 * @throws RangeError when `df` is not a positive finite number. x ≤ 0 gives 1, NaN gives NaN.
 */
export function chiSquaredSf(x: number, df: number): number {
  if (!(df > 0) || !Number.isFinite(df)) throw new RangeError(`df: must be a positive finite number, got ${df}`);
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  return regularizedGamma(df / 2, x / 2).q;
}
