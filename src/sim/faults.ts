/**
 * Fault injection decisions from a seeded PRNG: the same seed and the same order of requests
 * give the same failures, so tests can reproduce them.
 */

/** A small seeded PRNG (mulberry32) yielding floats in [0, 1). */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The next float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Message of an injected failure before the first byte. */
export const INJECTED_ERROR = "simulated failure";
/** Message of an injected failure in the middle of a stream. */
export const INJECTED_STREAM_ERROR = "simulated failure mid-stream";

/** Decides which requests fail. A rate of 0 never draws, 1 always fails without drawing. */
export class FaultInjector {
  readonly #prng: Prng;

  constructor(seed: number) {
    this.#prng = new Prng(seed);
  }

  /** True when this request should fail, with probability `rate`. */
  roll(rate: number): boolean {
    if (rate <= 0) return false;
    if (rate >= 1) return true;
    return this.#prng.next() < rate;
  }

  /** After how many content chunks (1..count-1, at least 1) a failing stream breaks. */
  breakPoint(count: number): number {
    if (count <= 2) return 1;
    return 1 + Math.floor(this.#prng.next() * (count - 1));
  }
}
