/**
 * A bounded queue between a pushing producer and one `async *` consumer, used by the event bus
 * subscribers of both transports: when the consumer falls `size` items behind, the oldest items
 * are dropped (a slow subscriber loses messages, memory stays bounded).
 */

/** A bounded queue; see the module comment. */
export interface BoundedQueue<T> {
  /** Adds an item; answers false when an older item had to be dropped for it. */
  push(item: T): boolean;
  /** Ends the consumer after the items queued so far are dropped. */
  end(): void;
  /** True once ended. */
  ended(): boolean;
  /** Yields items until `end()` (or the consumer stops iterating). */
  drain(): AsyncGenerator<T>;
}

/** Creates a queue holding at most `size` (≥ 1) items. */
export function createBoundedQueue<T>(size: number): BoundedQueue<T> {
  const limit = Math.max(1, size);
  let items: T[] = [];
  let head = 0;
  let wake: (() => void) | undefined;
  let ended = false;

  return {
    push(item) {
      if (ended) return true;
      let kept = true;
      if (items.length - head >= limit) {
        head++;
        kept = false;
      }
      items.push(item);
      if (head >= limit) {
        items = items.slice(head);
        head = 0;
      }
      wake?.();
      return kept;
    },
    end() {
      ended = true;
      items = [];
      head = 0;
      wake?.();
    },
    ended: () => ended,
    async *drain() {
      try {
        while (!ended) {
          if (head < items.length) {
            const item = items[head++];
            if (head > 1024 && head * 2 > items.length) {
              items = items.slice(head);
              head = 0;
            }
            yield item;
            continue;
          }
          items = [];
          head = 0;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        ended = true;
      }
    },
  };
}
