/**
 * GrowthBook's v2 assignment hash, so assignments can be reproduced with public SDKs:
 * `bucket = fnv1a32(String(fnv1a32(seed + unit))) % 10000`, FNV-1a over UTF-16 code units.
 */

/** Number of assignment buckets; arms own ranges over 0..BUCKETS-1. */
export const BUCKETS = 10_000;

/** FNV-1a 32-bit over the string's UTF-16 code units (as JavaScript's `charCodeAt`). */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The bucket (0..9999) of `unit` under `seed`, GrowthBook hash version 2. */
export function bucketOf(seed: string, unit: string): number {
  return fnv1a32(String(fnv1a32(seed + unit))) % BUCKETS;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * `bucketOf(seed, ·)` for a fixed seed, without building strings: the seed's FNV state is
 * computed once, the unit's characters continue it, and the decimal digits of the inner hash are
 * hashed from a preallocated buffer. Allocates nothing per call; equal to {@link bucketOf} for
 * every input.
 */
export function createBucketer(seed: string): (unit: string) => number {
  let prefix = FNV_OFFSET;
  for (let i = 0; i < seed.length; i++) prefix = Math.imul(prefix ^ seed.charCodeAt(i), FNV_PRIME);
  const digits = new Uint8Array(10); // a uint32 has at most 10 decimal digits
  return (unit) => {
    let inner = prefix;
    for (let i = 0; i < unit.length; i++) inner = Math.imul(inner ^ unit.charCodeAt(i), FNV_PRIME);
    // The last digit of the unsigned value first (it may exceed int32), then int32 arithmetic.
    const unsigned = inner >>> 0;
    let rest = Math.floor(unsigned / 10);
    let at = 9;
    digits[at] = unsigned - rest * 10;
    while (rest > 0) {
      const q = (rest / 10) | 0;
      digits[--at] = rest - q * 10;
      rest = q;
    }
    let outer = FNV_OFFSET;
    for (; at < 10; at++) outer = Math.imul(outer ^ (48 + digits[at]), FNV_PRIME);
    return (outer >>> 0) % BUCKETS;
  };
}
