/**
 * Logarithms of the gamma and beta functions, accurate to about 1e-15 in absolute terms, for the
 * distribution functions of this folder (normal, Student t, χ²). Pure functions over positive
 * arguments.
 *
 * Method: Stirling's series with Bernoulli terms up to x⁻¹³ for x ≥ 10, and the recurrence
 * Γ(x) = Γ(x + k) / (x(x+1)…(x+k−1)) below. Differences of log-gammas at large arguments (which
 * the beta function and the t density need) are taken term by term, so no large number is
 * subtracted from another.
 */

const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);
const STIRLING_MIN = 10;

/**
 * The tail of Stirling's series, lnΓ(x) − ((x − ½)ln x − x + ½ln 2π), for x ≥ 10 (error below
 * 1e-17 there).
 */
function stirlingCorrection(x: number): number {
  const r = 1 / x;
  const r2 = r * r;
  // B₂ₖ / (2k(2k−1)) for k = 1..7
  return (
    r * (1 / 12 + r2 * (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188 + r2 * (-691 / 360360 + r2 * (1 / 156)))))))
  );
}

/**
 * Natural logarithm of the gamma function, lnΓ(x), for x > 0.
 * @throws RangeError when `x` is not a positive number.
 */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`x: must be a positive number, got ${x}`);
  if (x === Infinity) return Infinity;
  if (x >= STIRLING_MIN) return (x - 0.5) * Math.log(x) - x + HALF_LOG_TWO_PI + stirlingCorrection(x);
  let product = 1;
  let shifted = x;
  while (shifted < STIRLING_MIN) {
    product *= shifted;
    shifted += 1;
  }
  return logGamma(shifted) - Math.log(product);
}

/**
 * lnΓ(x + d) − lnΓ(x) for x > 0 and d ≥ 0, without cancellation when x is large (it is
 * ln of the rising factorial x(x+1)…(x+d−1) for whole d).
 */
function logGammaRatio(x: number, d: number): number {
  if (!(x > 0)) throw new RangeError(`x: must be a positive number, got ${x}`);
  if (!(d >= 0)) throw new RangeError(`d: must be a non-negative number, got ${d}`);
  if (d === 0) return 0;
  if (x < STIRLING_MIN) return logGamma(x + d) - logGamma(x);
  // (x+d−½)ln(x+d) − (x−½)ln x − d = (x−½)·ln(1 + d/x) + d·ln(x+d) − d
  return (x - 0.5) * Math.log1p(d / x) + d * Math.log(x + d) - d + stirlingCorrection(x + d) - stirlingCorrection(x);
}

/**
 * Natural logarithm of the beta function, ln B(a, b) = lnΓ(a) + lnΓ(b) − lnΓ(a + b), for
 * a, b > 0; accurate also when one argument is large and the other small (B(ν/2, ½) of the t
 * distribution with thousands of degrees of freedom).
 */
export function logBeta(a: number, b: number): number {
  if (!(a > 0)) throw new RangeError(`a: must be a positive number, got ${a}`);
  if (!(b > 0)) throw new RangeError(`b: must be a positive number, got ${b}`);
  const small = Math.min(a, b);
  const large = Math.max(a, b);
  if (large >= STIRLING_MIN) return logGamma(small) - logGammaRatio(large, small);
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}
