/**
 * Where a request goes once assigned: the variant, and — when the request is counted in an
 * experiment — the experiment, phase, arm and the signed `x-turnout-ref` for its answer. Built by
 * assign-variant.ts (the route's split) and route-experiments.ts (a running experiment); read by
 * the exchange and the outcome record.
 */
import type { CompiledVariant } from "../snapshot/compiled-route.ts";

/** Where a request goes. */
export interface Assignment {
  readonly variant: CompiledVariant;
  /** Arm (its variant name) when the request was assigned by bucket; "" otherwise. */
  readonly arm: string;
  /** Bucket 0..9999, or -1 when there was no unit or no split. */
  readonly bucket: number;
  /** Hex FNV-1a of the unit ("" for none), for outcome records without raw user ids. */
  readonly unitHash: string;
  /** Set only when the request is counted in an experiment (see route-experiments.ts). */
  readonly experiment?: ExperimentAssignment;
}

/** Where an experiment put a request (on an {@link Assignment}). */
export interface ExperimentAssignment {
  readonly id: string;
  readonly phase: number;
  /** Arm index in the experiment. */
  readonly arm: number;
  /** The signed `x-turnout-ref` for the answer. */
  readonly ref: string;
}
