/**
 * The regularised incomplete beta function I_x(a, b) and its complement 1 − I_x(a, b), both
 * returned so that whichever is small keeps its relative accuracy (Student t tails). Pure
 * function.
 *
 * Method: the standard continued fraction for I_x(a, b), evaluated by the modified Lentz method,
 * on the side where it converges quickly (x < (a + 1)/(a + b + 2)); the other side by the symmetry
 * I_x(a, b) = 1 − I_{1−x}(b, a). The caller may pass 1 − x separately when it knows it more
 * precisely than `1 - x` would give (x close to 1).
 */
import { logBeta } from "./log-gamma.ts";

const EPSILON = 3e-16;
const TINY = 1e-300;
const MAX_ITERATIONS = 1_000_000;

/** I_x(a, b) and 1 − I_x(a, b). */
export interface RegularizedBeta {
  /** I_x(a, b): a beta(a, b) CDF at x. */
  lower: number;
  /** 1 − I_x(a, b): its survival function at x. */
  upper: number;
}

/**
 * Regularised incomplete beta function at shapes `a`, `b` > 0 and `x` in [0, 1]; `y` is 1 − x
 * (default computed as `1 - x`).
 * @throws RangeError on shapes that are not positive, x outside [0, 1], or a fraction that does
 *   not converge.
 */
export function regularizedBeta(a: number, b: number, x: number, y = 1 - x): RegularizedBeta {
  if (!(a > 0) || !Number.isFinite(a)) throw new RangeError(`a: must be a positive finite number, got ${a}`);
  if (!(b > 0) || !Number.isFinite(b)) throw new RangeError(`b: must be a positive finite number, got ${b}`);
  if (!(x >= 0 && x <= 1)) throw new RangeError(`x: must be in [0, 1], got ${x}`);
  if (x === 0) return { lower: 0, upper: 1 };
  if (y === 0 || x === 1) return { lower: 1, upper: 0 };
  if (x < (a + 1) / (a + b + 2)) {
    const lower = direct(a, b, x, y);
    return { lower, upper: 1 - lower };
  }
  const upper = direct(b, a, y, x);
  return { lower: 1 - upper, upper };
}

/** I_x(a, b) by its continued fraction, with y = 1 − x. */
function direct(a: number, b: number, x: number, y: number): number {
  const logX = x > 0.5 ? Math.log1p(-y) : Math.log(x);
  const logY = y > 0.5 ? Math.log1p(-x) : Math.log(y);
  const logPrefactor = a * logX + b * logY - logBeta(a, b);
  return (Math.exp(logPrefactor) * continuedFraction(a, b, x)) / a;
}

/** The continued fraction of I_x(a, b) · a · B(a, b) / (xᵃ (1−x)ᵇ). */
function continuedFraction(a: number, b: number, x: number): number {
  const sum = a + b;
  let c = 1;
  let d = 1 - (sum * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < MAX_ITERATIONS; m++) {
    const m2 = 2 * m;
    // even step: m(b−m)x / ((a+2m−1)(a+2m))
    let numerator = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + numerator * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + numerator / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    // odd step: −(a+m)(a+b+m)x / ((a+2m)(a+2m+1))
    numerator = (-(a + m) * (sum + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + numerator * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + numerator / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) return h;
  }
  throw new RangeError(`regularizedBeta: continued fraction did not converge for a=${a}, b=${b}, x=${x}`);
}
