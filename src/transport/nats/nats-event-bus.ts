/**
 * The distributed EventBus: core NATS publish/subscribe (nothing stored). Payloads go out as
 * given, so any NATS client can subscribe to the subjects in SUBJECTS. A publish while NATS is
 * down is dropped (never buffered for later: a heartbeat replayed after an outage would be
 * stale) and never throws. Subscriptions are re-established by the client after a reconnect;
 * each has a bounded buffer that drops its oldest messages when the subscriber falls behind.
 */
import type { Subscription } from "@nats-io/transport-node";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { createBoundedQueue } from "../bounded-queue.ts";
import { isValidPattern, isValidSubject } from "../memory/subject-match.ts";
import type { BusMessage, EventBus } from "../types.ts";
import type { NatsLink } from "./nats-connection.ts";

/** Options of {@link createNatsEventBus}. */
export interface NatsEventBusOptions {
  /** The connection (see connectNats). */
  link: NatsLink;
  /** Logger; a child with component "nats-bus" is made. */
  logger: Logger;
  /** Messages buffered per subscriber before the oldest are dropped. Default 10000. */
  bufferSize?: number;
}

/** The NATS bus, with a count of messages dropped (publishes while down, full subscriber buffers). */
export interface NatsEventBus extends EventBus {
  dropped(): number;
}

/** Creates the NATS event bus. */
export function createNatsEventBus(options: NatsEventBusOptions): NatsEventBus {
  const { link } = options;
  const log = options.logger.child({ component: "nats-bus" });
  const bufferSize = options.bufferSize ?? 10_000;
  let dropped = 0;

  return {
    publish(subject, data) {
      if (!isValidSubject(subject)) throw new TurnoutError(ErrorCode.InvalidArgument, `bad subject "${subject}"`);
      if (!link.connected()) {
        dropped++;
        return;
      }
      try {
        link.require(`publish ${subject}`).publish(subject, data);
      } catch (err) {
        dropped++;
        log.debug({ subject, err: (err as Error).message }, "publish dropped");
      }
    },

    /** Subscribes at once when connected (else on the first connection). */
    subscribe(subject, signal) {
      if (!isValidPattern(subject)) throw new TurnoutError(ErrorCode.InvalidArgument, `bad subject "${subject}"`);
      const queue = createBoundedQueue<BusMessage>(bufferSize);
      let sub: Subscription | undefined;
      const start = () => {
        if (queue.ended()) return;
        sub = link.require(`subscribe ${subject}`).subscribe(subject, {
          callback: (err, msg) => {
            if (err !== null) {
              log.warn({ subject, err: err.message }, "subscription failed");
              queue.end();
              return;
            }
            if (!queue.push({ subject: msg.subject, data: msg.data })) dropped++;
          },
        });
      };
      const stop = () => {
        queue.end();
        sub?.unsubscribe();
      };
      if (signal.aborted) queue.end();
      else {
        signal.addEventListener("abort", stop, { once: true });
        if (link.connected()) start();
        else link.ready(signal).then(start, () => undefined);
      }
      return (async function* () {
        try {
          yield* queue.drain();
        } finally {
          signal.removeEventListener("abort", stop);
          stop();
        }
      })();
    },

    dropped: () => dropped,
  };
}
