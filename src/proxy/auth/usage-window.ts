/**
 * A sliding window of counts (requests started, tokens used) in fixed slots: the window is split
 * into {@link WINDOW_SLOTS} slots, and a count added at time t stays in the window until the end
 * of the slot WINDOW_SLOTS slots after t's — between one window and one window plus a slot — so
 * any span of one window holds at most what the window admitted (never a slot's worth more, as a
 * window that dropped counts a slot early would). Slots are advanced lazily on use: no timer, no
 * allocation after construction.
 */

/** Slots per window (one second each for a one-minute window). */
const WINDOW_SLOTS = 60;

/** Counts over a sliding window. */
export class UsageWindow {
  /** Length of one slot, in ms. */
  readonly slotMs: number;
  /** Ring of WINDOW_SLOTS + 1 slots: the current (partial) one and the WINDOW_SLOTS before it. */
  private readonly counts = new Float64Array(WINDOW_SLOTS + 1);
  /** Absolute index of the newest slot (`floor(now / slotMs)` when it was last advanced). */
  private head = -Infinity;
  /** Sum of the ring. */
  total = 0;

  /** @param windowMs the window's length in ms (one minute for per-minute limits). */
  constructor(windowMs: number) {
    this.slotMs = windowMs / WINDOW_SLOTS;
  }

  /** Drops the counts that left the window by `nowMs`. */
  advance(nowMs: number): void {
    const slot = Math.floor(nowMs / this.slotMs);
    if (slot <= this.head) return;
    const ring = this.counts;
    if (slot - this.head >= ring.length) {
      ring.fill(0);
      this.total = 0;
    } else {
      for (let s = this.head + 1; s <= slot; s++) {
        const i = s % ring.length;
        this.total -= ring[i];
        ring[i] = 0;
      }
      if (this.total < 1e-9) this.total = 0;
    }
    this.head = slot;
  }

  /** Adds `n` at `nowMs`. */
  add(nowMs: number, n: number): void {
    this.advance(nowMs);
    this.counts[this.head % this.counts.length] += n;
    this.total += n;
  }

  /**
   * Ms from `nowMs` until the oldest count still in the window leaves it, or 0 when the window is
   * empty. Call `advance(nowMs)` first.
   */
  msUntilOldestLeaves(nowMs: number): number {
    if (this.total === 0) return 0;
    const ring = this.counts;
    // Slot indexes start at 0 (nothing was added before the clock's origin).
    for (let s = Math.max(0, this.head - WINDOW_SLOTS); s <= this.head; s++) {
      if (ring[s % ring.length] !== 0) return Math.max(0, (s + WINDOW_SLOTS + 1) * this.slotMs - nowMs);
    }
    return 0;
  }
}
