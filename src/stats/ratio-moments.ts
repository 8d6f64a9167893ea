/**
 * Per-arm moments for the two-sample tests: the mean of a metric per user and the per-user
 * variance of that mean's estimator. Three shapes of metric, all reduced to the same
 * {@link ArmMoments}: a plain mean of one value per user, a proportion of users, and a per-user
 * ratio metric (Σ numerator / Σ denominator over users, e.g. errors / requests or Σ TTFT /
 * requests), whose variance comes from the delta method. Pure functions over sufficient
 * statistics, so arms can be summed incrementally and merged.
 *
 * The user is the unit: requests of one user are correlated, and treating them as independent
 * overstates significance. A ratio metric keeps the user as the unit and still reports the
 * request-weighted rate.
 */

/** What the tests need from one arm. */
export interface ArmMoments {
  /** Users (units) in the arm. */
  n: number;
  /** The metric's estimate for the arm (a mean, a proportion or a ratio of sums). */
  mean: number;
  /**
   * Per-user variance of the estimate: Var(estimate) ≈ variance / n (sample variance with n − 1;
   * delta-method variance for ratios).
   */
  variance: number;
}

/** Sufficient statistics of a per-user ratio metric: sums over users. */
export interface RatioSums {
  /** Users. */
  n: number;
  /** Σ numerator (e.g. errors, or milliseconds of time to first token). */
  numerator: number;
  /** Σ numerator². */
  numeratorSquares: number;
  /** Σ denominator (e.g. requests). */
  denominator: number;
  /** Σ denominator². */
  denominatorSquares: number;
  /** Σ numerator·denominator. */
  products: number;
}

/** One user's totals of a ratio metric. */
export interface RatioUnit {
  /** The user's Σ numerator. */
  numerator: number;
  /** The user's Σ denominator. */
  denominator: number;
}

/** Sums of a ratio metric over `units`, one entry per user. */
export function ratioSums(units: Iterable<RatioUnit>): RatioSums {
  const s: RatioSums = { n: 0, numerator: 0, numeratorSquares: 0, denominator: 0, denominatorSquares: 0, products: 0 };
  for (const u of units) {
    s.n += 1;
    s.numerator += u.numerator;
    s.numeratorSquares += u.numerator * u.numerator;
    s.denominator += u.denominator;
    s.denominatorSquares += u.denominator * u.denominator;
    s.products += u.numerator * u.denominator;
  }
  return s;
}

/** Sums of two disjoint groups of users (e.g. two time windows of one arm). */
export function mergeRatioSums(a: RatioSums, b: RatioSums): RatioSums {
  return {
    n: a.n + b.n,
    numerator: a.numerator + b.numerator,
    numeratorSquares: a.numeratorSquares + b.numeratorSquares,
    denominator: a.denominator + b.denominator,
    denominatorSquares: a.denominatorSquares + b.denominatorSquares,
    products: a.products + b.products,
  };
}

/** Sample variance (n − 1) from a sum and a sum of squares; 0 for fewer than two users. */
function sampleVariance(n: number, sum: number, sumSquares: number): number {
  return n > 1 ? (sumSquares - (sum * sum) / n) / (n - 1) : 0;
}

/**
 * Moments of a per-user ratio metric: mean = Σ numerator / Σ denominator and the delta-method
 * variance of a ratio of means M̄/D̄,
 *   σ² = Var(M)/μ_D² − 2·Cov(M, D)·μ_M/μ_D³ + Var(D)·μ_M²/μ_D⁴
 * with per-user sample (co)variances. A zero denominator gives mean and variance 0.
 */
export function ratioMoments(s: RatioSums): ArmMoments {
  if (s.n === 0 || s.denominator === 0) return { n: s.n, mean: 0, variance: 0 };
  const meanM = s.numerator / s.n;
  const meanD = s.denominator / s.n;
  const varM = sampleVariance(s.n, s.numerator, s.numeratorSquares);
  const varD = sampleVariance(s.n, s.denominator, s.denominatorSquares);
  const cov = s.n > 1 ? (s.products - (s.numerator * s.denominator) / s.n) / (s.n - 1) : 0;
  const variance = varM / meanD ** 2 - (2 * cov * meanM) / meanD ** 3 + (varD * meanM ** 2) / meanD ** 4;
  return { n: s.n, mean: s.numerator / s.denominator, variance };
}

/** Moments of a plain per-user mean from `n` users, Σ value and Σ value² (sample variance). */
export function meanMoments(s: { n: number; sum: number; sumSquares: number }): ArmMoments {
  return { n: s.n, mean: s.n > 0 ? s.sum / s.n : 0, variance: sampleVariance(s.n, s.sum, s.sumSquares) };
}

/** Moments of a proportion of users (`successes` of `n`): variance p(1 − p). */
export function proportionMoments(s: { n: number; successes: number }): ArmMoments {
  const p = s.n > 0 ? s.successes / s.n : 0;
  return { n: s.n, mean: p, variance: p * (1 - p) };
}
