/**
 * A small seeded pseudo-random generator for reproducible simulations (A/A runs, SRM checks,
 * simulated users): xoshiro128** (Blackman & Vigna) seeded through splitmix32, with the few
 * distributions the simulations draw from. Deterministic: one seed, one stream of numbers on
 * every machine. Not for anything secret.
 */

/** A stream of pseudo-random draws. */
export interface SeededRandom {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** True with probability `p`. */
  bernoulli(p: number): boolean;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** exp(N(mu, sigma²)): a right-skewed positive value. */
  logNormal(mu: number, sigma: number): number;
  /** Poisson with mean `lambda` (exact: Knuth's product method on chunks of at most 30). */
  poisson(lambda: number): number;
  /** Binomial(n, p) by n Bernoulli draws (exact; meant for small n such as requests per user). */
  binomial(n: number, p: number): number;
}

/** splitmix32 step: spreads a 32-bit seed into well-mixed state words. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** 32-bit left rotation. */
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A generator seeded with `seed` (any number; its low 32 bits are used).
 * @throws RangeError when `seed` is not a finite number.
 */
export function createSeededRandom(seed: number): SeededRandom {
  if (!Number.isFinite(seed)) throw new RangeError(`seed: must be a finite number, got ${seed}`);
  const init = { s: seed | 0 };
  let a = splitmix32(init);
  let b = splitmix32(init);
  let c = splitmix32(init);
  let d = splitmix32(init);
  if ((a | b | c | d) === 0) a = 1;

  /** One xoshiro128** step: the next 32-bit output. */
  function nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  }

  const next = () => nextUint32() / 4294967296;
  const normal = () => {
    let u = next();
    while (u === 0) u = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
  const poissonSmall = (lambda: number) => {
    const limit = Math.exp(-lambda);
    let k = 0;
    let product = next();
    while (product > limit) {
      k += 1;
      product *= next();
    }
    return k;
  };

  return {
    next,
    int: (n) => Math.floor(next() * n),
    bernoulli: (p) => next() < p,
    normal,
    logNormal: (mu, sigma) => Math.exp(mu + sigma * normal()),
    poisson(lambda) {
      let remaining = lambda;
      let k = 0;
      while (remaining > 30) {
        k += poissonSmall(30);
        remaining -= 30;
      }
      return remaining > 0 ? k + poissonSmall(remaining) : k;
    },
    binomial(n, p) {
      let k = 0;
      for (let i = 0; i < n; i++) if (next() < p) k += 1;
      return k;
    },
  };
}
