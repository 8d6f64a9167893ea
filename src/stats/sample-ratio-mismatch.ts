/**
 * Sample ratio mismatch (SRM): a χ² goodness-of-fit test of the distinct users counted per arm
 * against the shares the split promised. A mismatch means assignment or logging is broken and
 * every other number in the report is suspect. Pure function.
 *
 * Thresholds follow experiments.md: p < 0.001 is unhealthy (GrowthBook's SRM alarm), 0.001 ≤ p
 * < 0.01 a warning (Statsig's).
 */
import { chiSquaredSf } from "./chi-squared-sf.ts";

/** What a sample ratio check can conclude, as an `as const` object and its union type. */
export const SrmVerdict = {
  Ok: "ok",
  Warning: "warning",
  Unhealthy: "unhealthy",
} as const;
export type SrmVerdict = (typeof SrmVerdict)[keyof typeof SrmVerdict];

/** Result of {@link sampleRatioMismatch}. */
export interface SrmResult {
  /** Pearson's χ² statistic Σ (observed − expected)² / expected over arms with a positive weight. */
  chi2: number;
  /** Degrees of freedom: arms with a positive weight, minus one. */
  df: number;
  /** P(χ²_df ≥ chi2); 1 when there are no users or fewer than two weighted arms. */
  pValue: number;
  /** `unhealthy` below `unhealthyBelow`, `warning` below `warningBelow`, `ok` otherwise. */
  verdict: SrmVerdict;
}

/** Options of {@link sampleRatioMismatch}. */
export interface SrmOptions {
  /** p-value below which the split is unhealthy. Default 0.001. */
  unhealthyBelow?: number;
  /** p-value below which the split earns a warning. Default 0.01. */
  warningBelow?: number;
}

/**
 * χ² test of `users[i]` (distinct users seen in arm i) against the expected shares
 * `weights[i] / Σ weights`. Users in an arm of weight 0 are an outright mismatch (χ² = ∞,
 * p = 0).
 * @throws RangeError naming the field when the lists differ in length, a count is not a
 *   non-negative integer, a weight is negative or not finite, or all weights are 0.
 */
export function sampleRatioMismatch(users: readonly number[], weights: readonly number[], options: SrmOptions = {}): SrmResult {
  const unhealthyBelow = options.unhealthyBelow ?? 0.001;
  const warningBelow = options.warningBelow ?? 0.01;
  if (users.length !== weights.length) {
    throw new RangeError(`weights: must have one weight per arm (${users.length}), got ${weights.length}`);
  }
  users.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`users[${i}]: must be a non-negative integer, got ${n}`);
  });
  weights.forEach((w, i) => {
    if (!Number.isFinite(w) || w < 0) throw new RangeError(`weights[${i}]: must be a non-negative finite number, got ${w}`);
  });
  const totalWeight = weights.reduce((s, w) => s + w, 0);
  if (!(totalWeight > 0)) throw new RangeError("weights: at least one weight must be positive");
  const total = users.reduce((s, n) => s + n, 0);
  const weighted = weights.filter((w) => w > 0).length;
  const df = Math.max(weighted - 1, 0);
  let chi2 = 0;
  for (let i = 0; i < users.length; i++) {
    const expected = (weights[i] / totalWeight) * total;
    if (expected === 0) {
      if (users[i] > 0) chi2 = Infinity;
      continue;
    }
    chi2 += (users[i] - expected) ** 2 / expected;
  }
  let pValue: number;
  if (total === 0) pValue = 1;
  else if (chi2 === Infinity) pValue = 0;
  else if (df === 0) pValue = 1;
  else pValue = chiSquaredSf(chi2, df);
  const verdict = pValue < unhealthyBelow ? SrmVerdict.Unhealthy : pValue < warningBelow ? SrmVerdict.Warning : SrmVerdict.Ok;
  return { chi2, df, pValue, verdict };
}
