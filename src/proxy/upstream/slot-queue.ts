/**
 * The bounded FIFO wait of one variant (in one routing table) for a free slot: a request that
 * finds every node of its variant at max_concurrent waits here, at most `maxLength` of them and
 * each at most `maxWaitMs`. While it holds requests the queue is registered on the upstream of
 * each of the variant's nodes, so a slot freed on any of them wakes the head; a request that
 * waited too long gets the dialect's 503 with Retry-After, and a client that leaves is taken out
 * at once.
 * Nothing here runs on the path of a request that finds a free node.
 */
import type { NodeUpstream, WaitingQueue } from "./node-upstream.ts";
import type { QueueSettings } from "./resilience-settings.ts";

/** What the queue needs from a waiting request (an Exchange). */
export interface SlotWaiter {
  /** `performance.now()` when it started waiting (set by the queue). */
  queuedAt: number;
  /** Tries to take a slot; answers false (and keeps waiting) when every node is still full. */
  tryStart(): boolean;
  /** The wait is over without a slot: answer 503 with Retry-After. */
  expire(): void;
}

function onExpiry(queue: SlotQueue): void {
  queue.timer = undefined;
  queue.expireDue();
}

/** One variant's waiting requests. */
export class SlotQueue implements WaitingQueue {
  private readonly upstreams: readonly NodeUpstream[];
  private readonly settings: QueueSettings;
  private readonly waiting: SlotWaiter[] = [];
  private registered = false;
  private waking = false;
  /** The head's expiry timer (internal). */
  timer: NodeJS.Timeout | undefined;

  /** `upstreams`: those of the variant's nodes, in node order (one per node). */
  constructor(upstreams: readonly NodeUpstream[], settings: QueueSettings) {
    this.upstreams = upstreams;
    this.settings = settings;
  }

  /** Requests waiting now. */
  get length(): number {
    return this.waiting.length;
  }

  /** Puts `w` at the end; answers false when the queue is off or full (answer 503 at once). */
  push(w: SlotWaiter): boolean {
    const s = this.settings;
    if (!s.enabled || this.waiting.length >= s.maxLength || this.upstreams.length === 0) return false;
    w.queuedAt = performance.now();
    this.waiting.push(w);
    if (!this.registered) {
      this.registered = true;
      for (const u of this.upstreams) u.queues.push(this);
    }
    if (this.timer === undefined) this.schedule();
    return true;
  }

  /** Takes `w` out (its client left); true when it was waiting. */
  remove(w: SlotWaiter): boolean {
    const i = this.waiting.indexOf(w);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    if (this.waiting.length === 0) this.idle();
    return true;
  }

  /** A slot freed on one of the nodes: start waiting requests, oldest first, while they get one. */
  wake(): void {
    if (this.waking) return;
    this.waking = true;
    try {
      while (this.waiting.length > 0) {
        const head = this.waiting.shift() as SlotWaiter;
        if (!head.tryStart()) {
          this.waiting.unshift(head);
          break;
        }
      }
    } finally {
      this.waking = false;
    }
    if (this.waiting.length === 0) this.idle();
  }

  /** Answers every request that waited its maximum (internal; called by the timer). */
  expireDue(): void {
    const deadline = performance.now() - this.settings.maxWaitMs;
    while (this.waiting.length > 0 && this.waiting[0].queuedAt <= deadline + 1) {
      const w = this.waiting.shift() as SlotWaiter;
      w.expire();
    }
    if (this.waiting.length === 0) this.idle();
    else this.schedule();
  }

  private schedule(): void {
    const head = this.waiting[0];
    const ms = Math.max(0, head.queuedAt + this.settings.maxWaitMs - performance.now());
    this.timer = setTimeout(onExpiry, ms, this);
  }

  private idle(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.registered) return;
    this.registered = false;
    for (const u of this.upstreams) {
      const qs = u.queues;
      const i = qs.indexOf(this);
      if (i >= 0) qs.splice(i, 1);
    }
  }
}
