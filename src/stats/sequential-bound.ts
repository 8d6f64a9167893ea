/**
 * Always-valid (sequential) one-sided confidence bounds for a difference of means, after
 * GrowthBook's asymptotic confidence sequences (Waudby-Smith et al., arXiv 2103.06476): safe to
 * look at after every interval without inflating the false-positive rate. Pure functions.
 *
 * The half-width is the one-sided case of {@link confidenceSequenceHalfwidth}
 * (confidence-sequence.ts, shared with the two-sided sequential-interval.ts): with n samples in
 * total, SE and s² = n·SE²,
 *   ρ = √((−2 ln 2α + ln(−2 ln 2α + 1)) / N*)
 *   h = √( s² · 2(nρ² + 1)/(nρ)² · ln(1 + √(nρ² + 1)/(2α)) )
 */
import { confidenceSequenceHalfwidth, DEFAULT_TUNING, sequentialRho } from "./confidence-sequence.ts";

/** ρ of the one-sided confidence sequence at level `alpha` with tuning `tuning`. */
export function oneSidedRho(alpha: number, tuning = DEFAULT_TUNING): number {
  return sequentialRho(alpha, tuning, 1);
}

/**
 * Half-width of the one-sided always-valid bound of an estimate with standard error `se` from
 * `n` samples in total (both arms together), at level `alpha`.
 */
export function oneSidedHalfwidth(se: number, n: number, alpha: number, tuning = DEFAULT_TUNING): number {
  return confidenceSequenceHalfwidth(se, n, alpha, { tuning, sides: 1 });
}

/** Counts of one arm for a rate. */
export interface RateCounts {
  /** Trials (requests). */
  n: number;
  /** Events (errors). */
  events: number;
}

/** Difference of two rates (treatment − control) with its standard error (unpooled). */
export function rateDifference(treatment: RateCounts, control: RateCounts): { difference: number; se: number } {
  const p1 = treatment.n > 0 ? treatment.events / treatment.n : 0;
  const p0 = control.n > 0 ? control.events / control.n : 0;
  const v1 = treatment.n > 0 ? (p1 * (1 - p1)) / treatment.n : Infinity;
  const v0 = control.n > 0 ? (p0 * (1 - p0)) / control.n : Infinity;
  return { difference: p1 - p0, se: Math.sqrt(v1 + v0) };
}

/** What {@link harmIncreaseTest} concluded. */
export interface HarmTest {
  /** Treatment rate minus control rate. */
  difference: number;
  /** Lower end of the one-sided always-valid bound of the difference. */
  lowerBound: number;
  /** True when the bound excludes 0 on the harmful side (the treatment's rate is higher). */
  harmful: boolean;
  /** False when either arm has fewer than `minSamples` trials (then `harmful` is false). */
  enough: boolean;
}

/**
 * One-sided sequential test that the treatment's rate of a bad event (errors) is higher than the
 * control's: harmful as soon as the always-valid lower bound of the difference is above 0.
 */
export function harmIncreaseTest(
  treatment: RateCounts,
  control: RateCounts,
  options: { alpha?: number; tuning?: number; minSamples?: number } = {},
): HarmTest {
  const alpha = options.alpha ?? 0.05;
  const minSamples = options.minSamples ?? 150;
  const { difference, se } = rateDifference(treatment, control);
  const enough = treatment.n >= minSamples && control.n >= minSamples;
  const lowerBound = difference - oneSidedHalfwidth(se, treatment.n + control.n, alpha, options.tuning);
  return { difference, lowerBound, harmful: enough && lowerBound > 0, enough };
}
