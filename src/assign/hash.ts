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
