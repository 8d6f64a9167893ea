/**
 * How many users a two-arm comparison needs: the users per arm at which a two-sided test at
 * level α has the requested power (default 80 % at α = 0.05) against an effect, and how many
 * more users the experiment needs from where it is. Pure functions; the normal approximation
 * of the Welch test (z instead of t quantiles), which is what "need about N more users" means.
 *
 *   n per arm = (z_{1−α/2} + z_{power})² · (σ_c² + σ_t²) / δ²
 * for an absolute effect δ, and with the delta-method per-user variance of the relative lift,
 * σ_t²/μ_c² + σ_c²·μ_t²/μ_c⁴, for a relative effect. A fixed-horizon number: sequential
 * intervals need somewhat more.
 */
import { normalQuantile } from "./normal-distribution.ts";
import type { ArmMoments } from "./ratio-moments.ts";

/** Level and power of a sample-size computation. */
export interface PowerOptions {
  /** Two-sided significance level. Default 0.05. */
  alpha?: number;
  /** Probability of detecting the effect. Default 0.8. */
  power?: number;
}

/** Defaults and checks alpha and power, naming the field on a bad value. */
function checkPower(options: PowerOptions): { alpha: number; power: number } {
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha: must be in (0, 1), got ${alpha}`);
  if (!(power > 0 && power < 1)) throw new RangeError(`power: must be in (0, 1), got ${power}`);
  return { alpha, power };
}

/**
 * Users per arm to detect an absolute `effect` (treatment − control) given the per-user
 * variances of both arms. Infinite for a zero effect.
 * @throws RangeError naming the field for a negative variance or a bad alpha or power.
 */
export function sampleSizePerArm(
  varianceControl: number,
  varianceTreatment: number,
  effect: number,
  options: PowerOptions = {},
): number {
  const { alpha, power } = checkPower(options);
  if (!(varianceControl >= 0)) throw new RangeError(`varianceControl: must be a non-negative number, got ${varianceControl}`);
  if (!(varianceTreatment >= 0))
    throw new RangeError(`varianceTreatment: must be a non-negative number, got ${varianceTreatment}`);
  if (!Number.isFinite(effect)) throw new RangeError(`effect: must be a finite number, got ${effect}`);
  if (effect === 0) return Infinity;
  const z = normalQuantile(1 - alpha / 2) + normalQuantile(power);
  return Math.ceil((z * z * (varianceControl + varianceTreatment)) / (effect * effect));
}

/** Options of {@link usersNeeded}. */
export interface UsersNeededOptions extends PowerOptions {
  /**
   * Minimum detectable relative lift (0.05 = 5 %). Default: the observed relative lift (or,
   * with `absoluteEffect`, none).
   */
  relativeEffect?: number;
  /** Minimum detectable absolute difference; used when `relativeEffect` is not given. */
  absoluteEffect?: number;
}

/** Result of {@link usersNeeded}. */
export interface UsersNeeded {
  /** Users per arm for the requested power; Infinity when the effect is 0. */
  perArm: number;
  /** Users still missing, summed over both arms (0 when both arms already have enough). */
  remaining: number;
  /** The effect it was computed for. */
  effect: number;
  /** Whether `effect` is relative (a lift) or absolute (a difference). */
  scale: "relative" | "absolute";
}

/**
 * Users per arm, and users still missing, to detect `relativeEffect` (or `absoluteEffect`, or
 * by default the currently observed effect) with the observed per-user variances.
 * @throws RangeError naming the field for bad options; a relative effect needs a non-zero
 *   control mean.
 */
export function usersNeeded(control: ArmMoments, treatment: ArmMoments, options: UsersNeededOptions = {}): UsersNeeded {
  let perArm: number;
  let effect: number;
  let scale: UsersNeeded["scale"];
  if (options.relativeEffect !== undefined || options.absoluteEffect === undefined) {
    if (control.mean === 0) throw new RangeError("relativeEffect: needs a control mean other than 0");
    const mc = control.mean;
    effect = options.relativeEffect ?? (treatment.mean - mc) / Math.abs(mc);
    scale = "relative";
    // Per-user variances of the relative lift's two terms (delta method, see welch-test.ts).
    perArm = sampleSizePerArm((control.variance * treatment.mean ** 2) / mc ** 4, treatment.variance / mc ** 2, effect, options);
  } else {
    effect = options.absoluteEffect;
    scale = "absolute";
    perArm = sampleSizePerArm(control.variance, treatment.variance, effect, options);
  }
  const remaining = perArm === Infinity ? Infinity : Math.max(0, perArm - control.n) + Math.max(0, perArm - treatment.n);
  return { perArm, remaining, effect, scale };
}
