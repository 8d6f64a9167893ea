/**
 * The regularised incomplete gamma functions P(a, x) = γ(a, x)/Γ(a) and Q(a, x) = 1 − P(a, x),
 * both returned so that whichever is small keeps its relative accuracy (the χ² survival function
 * and the normal tails need Q far below 1e-10). Pure function.
 *
 * Method: the power series of P for x < a + 1, a continued fraction for Q (evaluated by the
 * modified Lentz method) otherwise; each converges quickly on its side.
 */
import { logGamma } from "./log-gamma.ts";

const EPSILON = 3e-16;
const TINY = 1e-300;
const MAX_ITERATIONS = 100_000;

/** P(a, x) and Q(a, x), each accurate in relative terms (about 1e-14). */
export interface RegularizedGamma {
  /** P(a, x), the lower regularised incomplete gamma function (a gamma(a, 1) CDF at x). */
  p: number;
  /** Q(a, x) = 1 − P(a, x), the upper one (its survival function). */
  q: number;
}

/**
 * Regularised incomplete gamma functions at shape `a` > 0 and `x` ≥ 0.
 * @throws RangeError on a non-positive `a`, a negative `x`, or (never seen in practice) a
 *   series that does not converge.
 */
export function regularizedGamma(a: number, x: number): RegularizedGamma {
  if (!(a > 0) || !Number.isFinite(a)) throw new RangeError(`a: must be a positive finite number, got ${a}`);
  if (!(x >= 0)) throw new RangeError(`x: must be a non-negative number, got ${x}`);
  if (x === 0) return { p: 0, q: 1 };
  if (x === Infinity) return { p: 1, q: 0 };
  const logPrefactor = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    const p = Math.exp(logPrefactor) * lowerSeries(a, x);
    return { p, q: 1 - p };
  }
  const q = Math.exp(logPrefactor) * upperContinuedFraction(a, x);
  return { p: 1 - q, q };
}

/** Σₙ xⁿ / (a(a+1)…(a+n)), so that P = e⁻ˣ xᵃ / Γ(a) times this sum. */
function lowerSeries(a: number, x: number): number {
  let denominator = a;
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    denominator += 1;
    term *= x / denominator;
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPSILON) return sum;
  }
  throw new RangeError(`regularizedGamma: series did not converge for a=${a}, x=${x}`);
}

/**
 * The continued fraction 1/(x+1−a − 1(1−a)/(x+3−a − 2(2−a)/(x+5−a − …))), so that
 * Q = e⁻ˣ xᵃ / Γ(a) times this value.
 */
function upperContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) return h;
  }
  throw new RangeError(`regularizedGamma: continued fraction did not converge for a=${a}, x=${x}`);
}
