/**
 * The in-process EventBus of embedded mode: core-NATS semantics in one process. Subjects match
 * with NATS wildcards (`*` one token, `>` the rest); nothing is stored, a subscriber sees what is
 * published while it listens. Each subscriber has a bounded buffer: when a slow subscriber falls
 * `bufferSize` messages behind, its oldest messages are dropped (as a slow NATS consumer would
 * lose them) rather than memory growing without limit.
 */
import { ErrorCode, TurnoutError } from "../../errors.ts";
import { createBoundedQueue, type BoundedQueue } from "../bounded-queue.ts";
import type { BusMessage, EventBus } from "../types.ts";
import { isValidPattern, isValidSubject, subjectTokens, tokensMatch } from "./subject-match.ts";

/** Options of {@link createMemoryEventBus}. */
export interface MemoryEventBusOptions {
  /** Messages buffered per subscriber before the oldest are dropped. Default 10000. */
  bufferSize?: number;
}

/** The in-process bus, with a count of dropped messages for tests and metrics. */
export interface MemoryEventBus extends EventBus {
  /** Messages dropped so far because a subscriber's buffer was full. */
  dropped(): number;
}

interface Subscriber {
  pattern: string[];
  queue: BoundedQueue<BusMessage>;
}

/** Creates an in-process event bus. */
export function createMemoryEventBus(options: MemoryEventBusOptions = {}): MemoryEventBus {
  const bufferSize = options.bufferSize ?? 10_000;
  const subscribers = new Set<Subscriber>();
  let dropped = 0;

  async function* drain(sub: Subscriber, signal: AbortSignal, onAbort: () => void): AsyncGenerator<BusMessage> {
    try {
      yield* sub.queue.drain();
    } finally {
      signal.removeEventListener("abort", onAbort);
      subscribers.delete(sub);
    }
  }

  return {
    publish(subject, data) {
      if (!isValidSubject(subject)) throw new TurnoutError(ErrorCode.InvalidArgument, `bad subject "${subject}"`);
      if (subscribers.size === 0) return;
      const tokens = subjectTokens(subject);
      const message: BusMessage = { subject, data: data.slice() };
      for (const sub of subscribers) {
        if (tokensMatch(sub.pattern, tokens) && !sub.queue.push(message)) dropped++;
      }
    },

    /** Subscribes at once (not at the first `next()`), so nothing published after this call is missed. */
    subscribe(subject, signal) {
      if (!isValidPattern(subject)) throw new TurnoutError(ErrorCode.InvalidArgument, `bad subject "${subject}"`);
      const sub: Subscriber = { pattern: subjectTokens(subject), queue: createBoundedQueue(bufferSize) };
      const onAbort = () => {
        sub.queue.end();
        subscribers.delete(sub);
      };
      if (signal.aborted) sub.queue.end();
      else {
        subscribers.add(sub);
        signal.addEventListener("abort", onAbort, { once: true });
      }
      return drain(sub, signal, onAbort);
    },

    dropped: () => dropped,
  };
}
