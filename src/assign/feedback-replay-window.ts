/**
 * The replay window: the (ref, metric) pairs whose feedback was accepted, so that a replay is
 * refused. A pair is held as its replay key — 53 bits of SHA-256 over the ref and the metric, the
 * same on every proxy ({@link feedbackReplayKey}) — with the time its ref was issued.
 *
 * Bounded: at most `capacity` keys, in typed arrays (a ring in insertion order and an
 * open-addressing index of twice the ring's size: 24 bytes per key, so 1,000,000 keys are 24 MB;
 * the arrays start small and double as keys arrive). A key leaves the window when its ref has
 * expired (`expire`) or, when the window is full, as the oldest one in it. Either way the window's
 * floor rises to the issued-at time of the key that left, and refs issued at or before the floor
 * are answered `BelowFloor`: the window no longer knows whether they were seen, so they must be
 * refused (as expired). So every accepted key whose ref is newer than the floor is in the window,
 * and a replay is never taken for new; what a full window gives up is late feedback on old refs.
 *
 * A false "seen" needs two pairs with the same 53-bit key: with a million keys held, about one
 * new pair in nine billion.
 */
import { createHash } from "node:crypto";

/** The replay key of feedback on `ref` for `metric`: a non-zero integer below 2^53. */
export function feedbackReplayKey(ref: string, metric: string): number {
  const d = createHash("sha256").update(ref, "latin1").update("\u0000").update(metric, "latin1").digest();
  const key = (d.readUInt32BE(0) & 0x1f_ffff) * 0x1_0000_0000 + d.readUInt32BE(4);
  return key === 0 ? 1 : key;
}

/** What the window knows of a key, as `as const` object + union type. */
export const ReplayCheck = {
  /** Not in the window, and its ref is newer than the floor: feedback may be accepted. */
  New: "new",
  /** In the window: a replay. */
  Seen: "seen",
  /** Its ref was issued at or before the floor: the window cannot tell. */
  BelowFloor: "below_floor",
} as const;
export type ReplayCheck = (typeof ReplayCheck)[keyof typeof ReplayCheck];

/** Default capacity of a window, in keys (about 24 MB when full). */
const DEFAULT_REPLAY_WINDOW_KEYS = 1_000_000;
const INITIAL_SLOTS = 1024;

/** A bounded set of replay keys (see the file comment). */
export class FeedbackReplayWindow {
  /** Most keys held. */
  readonly capacity: number;
  private slots: number;
  private keys: Float64Array;
  private issued: Float64Array;
  /** Ring slot + 1 of each key, by hash position; 0 is empty. */
  private index: Int32Array;
  private mask: number;
  private head = 0;
  private count = 0;
  private floor = Number.NEGATIVE_INFINITY;
  private evictedFull = 0;

  /** A window of at most `capacity` keys (default {@link DEFAULT_REPLAY_WINDOW_KEYS}). */
  constructor(capacity = DEFAULT_REPLAY_WINDOW_KEYS) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError("a replay window holds at least one key");
    this.capacity = capacity;
    this.slots = Math.min(capacity, INITIAL_SLOTS);
    this.keys = new Float64Array(this.slots);
    this.issued = new Float64Array(this.slots);
    this.index = new Int32Array(indexSize(this.slots));
    this.mask = this.index.length - 1;
  }

  /** Keys held. */
  get size(): number {
    return this.count;
  }

  /** Refs issued at or before this time (epoch ms) are `BelowFloor`; -Infinity while no key left. */
  get floorMs(): number {
    return this.floor;
  }

  /** Keys that left because the window was full (not because their ref expired). */
  get evictedWhenFull(): number {
    return this.evictedFull;
  }

  /** What the window knows of `key`, whose ref was issued at `issuedAtMs`. */
  check(key: number, issuedAtMs: number): ReplayCheck {
    if (issuedAtMs <= this.floor) return ReplayCheck.BelowFloor;
    return this.find(key) >= 0 ? ReplayCheck.Seen : ReplayCheck.New;
  }

  /** Whether `key` is held. */
  has(key: number): boolean {
    return this.find(key) >= 0;
  }

  /**
   * Adds `key` (its ref issued at `issuedAtMs`); false when it is held already or its ref is at or
   * below the floor. A full window first lets its oldest key go.
   */
  add(key: number, issuedAtMs: number): boolean {
    if (issuedAtMs <= this.floor || this.find(key) >= 0) return false;
    if (this.count === this.slots) {
      if (this.slots < this.capacity) this.grow();
      else {
        this.evictedFull++;
        this.evictHead();
      }
    }
    const slot = (this.head + this.count) % this.slots;
    this.keys[slot] = key;
    this.issued[slot] = issuedAtMs;
    this.count++;
    let at = home(key, this.mask);
    while (this.index[at] !== 0) at = (at + 1) & this.mask;
    this.index[at] = slot + 1;
    return true;
  }

  /**
   * Lets the oldest keys go while their refs were issued before `cutoffMs` (they have expired);
   * answers how many left. Stops at the first newer one, so it costs nothing when none is due.
   */
  expire(cutoffMs: number): number {
    let n = 0;
    while (this.count > 0 && this.issued[this.head] < cutoffMs) {
      this.evictHead();
      n++;
    }
    return n;
  }

  /** Hash position of `key`, or -1. */
  private find(key: number): number {
    let at = home(key, this.mask);
    for (let slot = this.index[at]; slot !== 0; slot = this.index[at]) {
      if (this.keys[slot - 1] === key) return at;
      at = (at + 1) & this.mask;
    }
    return -1;
  }

  private evictHead(): void {
    const slot = this.head;
    if (this.issued[slot] > this.floor) this.floor = this.issued[slot];
    this.remove(this.find(this.keys[slot]));
    this.head = (slot + 1) % this.slots;
    this.count--;
  }

  /** Empties hash position `at`, moving later entries of its probe run back (no tombstones). */
  private remove(at: number): void {
    const { index, keys, mask } = this;
    let hole = at;
    index[hole] = 0;
    for (let j = (hole + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const want = home(keys[index[j] - 1], mask);
      // the entry at j may move into the hole when its home is not cyclically within (hole, j]
      const stays = hole <= j ? hole < want && want <= j : hole < want || want <= j;
      if (stays) continue;
      index[hole] = index[j];
      index[j] = 0;
      hole = j;
    }
  }

  /** Doubles the ring (up to the capacity) and rebuilds the index, oldest key first at slot 0. */
  private grow(): void {
    const slots = Math.min(this.capacity, this.slots * 2);
    const keys = new Float64Array(slots);
    const issued = new Float64Array(slots);
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) % this.slots;
      keys[i] = this.keys[from];
      issued[i] = this.issued[from];
    }
    const index = new Int32Array(indexSize(slots));
    const mask = index.length - 1;
    for (let i = 0; i < this.count; i++) {
      let at = home(keys[i], mask);
      while (index[at] !== 0) at = (at + 1) & mask;
      index[at] = i + 1;
    }
    this.slots = slots;
    this.keys = keys;
    this.issued = issued;
    this.index = index;
    this.mask = mask;
    this.head = 0;
  }
}

/** The smallest power of two of at least twice `slots`. */
function indexSize(slots: number): number {
  let n = 2;
  while (n < slots * 2) n *= 2;
  return n;
}

/** Hash position of `key`: its low 32 bits (it is uniformly random) under `mask`. */
function home(key: number, mask: number): number {
  return (key >>> 0) & mask;
}
