/**
 * The proxy's replay window, shared over the bus so that the fleet refuses a replay wherever it
 * arrives. Every accepted (ref, metric) goes into this proxy's window at once (so a replay on the
 * same proxy is refused from the next request on) and out to the others as FeedbackSeen (JSON) on
 * `SUBJECTS.feedbackSeen(id)`, batched per event-loop turn; the keys the other proxies publish
 * go into this proxy's window. Each proxy so holds the fleet's accepted keys, up to its window's
 * capacity (see feedback-replay-window.ts for what happens at the bound).
 *
 * Delivery: core NATS keeps nothing, so a batch is kept until it comes back from the bus (a proxy
 * hears its own messages: once NATS delivered it, every connected proxy had it too) and published
 * again every `resendMs` until then — a batch accepted during a NATS outage reaches the others
 * when NATS is back. At most `maxPendingKeys` keys wait; past that the oldest batches are given up
 * (with a warning), and a replay of those keys is refused only by the proxies that have them.
 *
 * What this cannot do: a replay sent to a second proxy before the first one's batch reached it
 * (the bus's latency, about a millisecond on a LAN) is accepted there too; so is a replay of a
 * ref accepted before a proxy started, sent to that proxy. The control plane counts each key once
 * anyway (control/metrics/feedback-dedupe.ts): the 409 is what clients see, the count is exact.
 */
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { FeedbackSeenKeySchema, FeedbackSeenSchema } from "../../../gen/turnout/v1/events_pb.js";
import { FeedbackReplayWindow } from "../../assign/feedback-replay-window.ts";
import type { Logger } from "../../log.ts";
import { SUBJECTS, type EventBus } from "../../transport/types.ts";

/** Options of {@link createFeedbackReplays}. */
export interface FeedbackReplaysOptions {
  /** This proxy's id (the last token of its subject). */
  id: string;
  logger: Logger;
  /** Bus the accepted keys are shared on. Default: none (this proxy's own keys only). */
  bus?: EventBus;
  /** Most keys held, about 24 bytes each. Default 1,000,000. */
  capacity?: number;
  /** How long a published batch may take to come back from the bus before it is sent again, in ms. Default 500. */
  resendMs?: number;
  /** Most keys of batches that have not come back yet; the oldest batches beyond are given up. Default 100,000. */
  maxPendingKeys?: number;
}

/** What became of the feedback this proxy was sent (for `/metrics`). */
export interface FeedbackResults {
  accepted: number;
  /** Refused as replays (409). */
  replayed: number;
  /** Refused otherwise (400, or 503 before the first snapshot). */
  refused: number;
}

/** A proxy's shared replay window. */
export interface FeedbackReplays {
  /** The window (check it before accepting). */
  readonly window: FeedbackReplayWindow;
  /** Counts of accepted and refused feedback, kept by the endpoints. */
  readonly results: FeedbackResults;
  /** Records feedback accepted here: into the window and out to the other proxies. */
  accepted(key: number, issuedAtMs: number): void;
  /** Keys the other proxies shared that were new here. */
  heardTotal(): number;
  /** Keys of batches given up before they came back from the bus. */
  givenUpTotal(): number;
  /** Stops sharing. */
  close(): void;
}

/** Most keys in one FeedbackSeen message (about 55 bytes each as JSON). */
const MAX_KEYS_PER_MESSAGE = 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Pending {
  readonly data: Uint8Array;
  readonly keys: number;
  sentAt: number;
}

/** Starts the window and, with a bus, its sharing. */
export function createFeedbackReplays(options: FeedbackReplaysOptions): FeedbackReplays {
  const { bus, id } = options;
  const log = options.logger.child({ component: "feedback-replays" });
  const window = new FeedbackReplayWindow(options.capacity);
  const resendMs = options.resendMs ?? 500;
  const maxPendingKeys = options.maxPendingKeys ?? 100_000;
  const ownSubject = SUBJECTS.feedbackSeen(id);
  const controller = new AbortController();
  let outgoing: { key: bigint; issuedAtMs: bigint }[] = [];
  let flushing: NodeJS.Immediate | undefined;
  let seq = 0n;
  const pending = new Map<bigint, Pending>();
  let pendingKeys = 0;
  let heard = 0;
  let givenUp = 0;
  let warned = false;

  const send = (p: Pending) => {
    p.sentAt = performance.now();
    try {
      bus?.publish(ownSubject, p.data);
    } catch (err) {
      log.warn({ err }, "feedback keys not published");
    }
  };

  const flush = () => {
    flushing = undefined;
    while (outgoing.length > 0) {
      const keys = outgoing.slice(0, MAX_KEYS_PER_MESSAGE).map((k) => create(FeedbackSeenKeySchema, k));
      outgoing = outgoing.slice(keys.length);
      const message = create(FeedbackSeenSchema, { proxy: id, seq: ++seq, keys });
      const p: Pending = { data: encoder.encode(toJsonString(FeedbackSeenSchema, message)), keys: keys.length, sentAt: 0 };
      pending.set(message.seq, p);
      pendingKeys += p.keys;
      for (const [oldest, q] of pending) {
        if (pendingKeys <= maxPendingKeys) break;
        pending.delete(oldest);
        pendingKeys -= q.keys;
        givenUp += q.keys;
        if (!warned) log.warn({ maxPendingKeys }, "feedback keys given up: the bus has not delivered them");
        warned = true;
      }
      send(p);
    }
  };

  const resend = () => {
    const due = performance.now() - resendMs;
    for (const p of pending.values()) if (p.sentAt <= due) send(p);
  };
  const timer = bus && setInterval(resend, resendMs);
  timer?.unref();

  if (bus !== undefined) {
    void (async () => {
      try {
        for await (const m of bus.subscribe(SUBJECTS.feedbackSeenAll, controller.signal)) {
          let seen;
          try {
            seen = fromJsonString(FeedbackSeenSchema, decoder.decode(m.data), { ignoreUnknownFields: true });
          } catch (err) {
            log.debug({ subject: m.subject, err: (err as Error).message }, "bad feedback keys ignored");
            continue;
          }
          if (m.subject === ownSubject) {
            const p = pending.get(seen.seq);
            if (p !== undefined) {
              pending.delete(seen.seq);
              pendingKeys -= p.keys;
              warned = false;
            }
            continue;
          }
          for (const k of seen.keys) if (window.add(Number(k.key), Number(k.issuedAtMs))) heard++;
        }
      } catch (err) {
        if (!controller.signal.aborted) log.warn({ err }, "feedback keys subscription ended");
      }
    })();
  }

  return {
    window,
    results: { accepted: 0, replayed: 0, refused: 0 },
    accepted(key, issuedAtMs) {
      window.add(key, issuedAtMs);
      if (bus === undefined) return;
      outgoing.push({ key: BigInt(key), issuedAtMs: BigInt(issuedAtMs) });
      flushing ??= setImmediate(flush);
    },
    heardTotal: () => heard,
    givenUpTotal: () => givenUp,
    close() {
      if (flushing !== undefined) {
        clearImmediate(flushing);
        flush();
      }
      if (timer !== undefined) clearInterval(timer);
      controller.abort();
    },
  };
}
