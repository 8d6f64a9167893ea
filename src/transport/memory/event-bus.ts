/**
 * The in-process EventBus of embedded mode: core-NATS semantics in one process. Subjects match
 * with NATS wildcards (`*` one token, `>` the rest); nothing is stored, a subscriber sees what is
 * published while it listens. Each subscriber has a bounded buffer: when a slow subscriber falls
 * `bufferSize` messages behind, its oldest messages are dropped (as a slow NATS consumer would
 * lose them) rather than memory growing without limit.
 */
import { ErrorCode, TurnoutError } from "../../errors.ts";
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
  queue: BusMessage[];
  /** Index of the next message to yield in `queue` (a moving head, compacted now and then). */
  head: number;
  wake: (() => void) | undefined;
  ended: boolean;
}

/** Creates an in-process event bus. */
export function createMemoryEventBus(options: MemoryEventBusOptions = {}): MemoryEventBus {
  const bufferSize = Math.max(1, options.bufferSize ?? 10_000);
  const subscribers = new Set<Subscriber>();
  let dropped = 0;

  function end(sub: Subscriber): void {
    sub.ended = true;
    subscribers.delete(sub);
    sub.wake?.();
  }

  async function* drain(sub: Subscriber, signal: AbortSignal, onAbort: () => void): AsyncGenerator<BusMessage> {
    try {
      while (!sub.ended) {
        if (sub.head < sub.queue.length) {
          const message = sub.queue[sub.head++];
          if (sub.head > 1024 && sub.head * 2 > sub.queue.length) {
            sub.queue = sub.queue.slice(sub.head);
            sub.head = 0;
          }
          yield message;
          continue;
        }
        sub.queue.length = 0;
        sub.head = 0;
        await new Promise<void>((resolve) => (sub.wake = resolve));
        sub.wake = undefined;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      end(sub);
    }
  }

  return {
    publish(subject, data) {
      if (!isValidSubject(subject)) throw new TurnoutError(ErrorCode.InvalidArgument, `bad subject "${subject}"`);
      if (subscribers.size === 0) return;
      const tokens = subjectTokens(subject);
      const message: BusMessage = { subject, data: data.slice() };
      for (const sub of subscribers) {
        if (!tokensMatch(sub.pattern, tokens)) continue;
        if (sub.queue.length - sub.head >= bufferSize) {
          sub.head++;
          dropped++;
          if (sub.head >= bufferSize) {
            sub.queue = sub.queue.slice(sub.head);
            sub.head = 0;
          }
        }
        sub.queue.push(message);
        sub.wake?.();
      }
    },

    /** Subscribes at once (not at the first `next()`), so nothing published after this call is missed. */
    subscribe(subject, signal) {
      if (!isValidPattern(subject)) throw new TurnoutError(ErrorCode.InvalidArgument, `bad subject "${subject}"`);
      const sub: Subscriber = { pattern: subjectTokens(subject), queue: [], head: 0, wake: undefined, ended: signal.aborted };
      const onAbort = () => end(sub);
      if (!sub.ended) {
        subscribers.add(sub);
        signal.addEventListener("abort", onAbort);
      }
      return drain(sub, signal, onAbort);
    },

    dropped: () => dropped,
  };
}
