/**
 * The distributed OutcomeLog: a JetStream stream that proxies append to and a durable pull
 * consumer per reader, so a restart of the reader, of the proxies or of NATS loses nothing.
 *
 * Stream settings (created on start when missing; an existing stream is used as it is):
 * name `stream` (default TURNOUT_OUTCOMES), subjects [`subject`] (default turnout.outcomes),
 * file storage, 1 replica, limits retention with max_age 7 days and max_bytes 1 GiB (discard
 * old), duplicate_window 2 minutes: `append(id, …)` publishes with `Nats-Msg-Id: id`, so a retry
 * within two minutes is stored once.
 *
 * Consumers: `consume(name)` uses the durable pull consumer `name` (explicit ack, deliver all,
 * ack_wait 10 s, max_ack_pending 10000), created when missing. Within one `consume` call each
 * entry is yielded once (a redelivery of an entry still held is skipped). When the call ends,
 * entries yielded but not acked (signal aborted) and entries the client had pulled into its
 * buffer but not yet yielded are nak'ed, so the next reader gets them at once (the server
 * redelivers nak'ed entries before newer ones); only those of a crashed reader, and an entry the
 * server was already sending when the call stopped its pull (it reaches no subscription), come
 * back after ack_wait.
 *
 * Replay: `replay(name, sinceMs)` reads the durable consumer's ack floor (`ack_floor.stream_seq`,
 * every entry at or below it is acked) and then, with an ephemeral consumer (no acks, memory
 * storage, deliver by start time = `sinceMs`, removed at the end or after 30 s of inactivity),
 * the entries stored at or after `sinceMs` up to that floor. The durable consumer is not touched.
 * Acks above the floor (out of order) are not replayed: they exist only while entries a crashed
 * reader had pulled wait out ack_wait and a newer reader acks past them.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { checkConsumerName } from "../memory/consumer-offsets.ts";
import type { LogEntry, OutcomeLog, ReplayedEntry } from "../types.ts";
import { aborted, unreachable, type NatsLink } from "./nats-connection.ts";
import { delay } from "../../delay.ts";

/** Options of {@link createNatsOutcomeLog}. */
export interface NatsOutcomeLogOptions {
  /** The connection (see connectNats). */
  link: NatsLink;
  /** Logger; a child with component "nats-outcomes" is made. */
  logger: Logger;
  /** Stream name. Default "TURNOUT_OUTCOMES". */
  stream?: string;
  /** Subject the stream stores. Default "turnout.outcomes". */
  subject?: string;
  /** Stream max_age in ms when created. Default 7 days. */
  maxAgeMs?: number;
  /** Stream max_bytes when created. Default 1 GiB. */
  maxBytes?: number;
  /** Stream duplicate_window in ms when created. Default 2 minutes. */
  duplicateWindowMs?: number;
  /** Consumers' ack_wait in ms when created: how soon a crashed reader's unacked entries come back. Default 10000. */
  ackWaitMs?: number;
}

/** The NATS outcome log; `close()` ends its consumers (the link is closed by its owner). */
export interface NatsOutcomeLog extends OutcomeLog {
  close(): Promise<void>;
}

const RETRY_MS = [100, 250, 500, 1000, 2000];
/** Messages per fetch of a replay. */
const REPLAY_BATCH = 512;
/** Acked seqs remembered per consume call, to recognise redeliveries of entries acked already. */
const ACKED_WINDOW = 100_000;

/** Opens the log; creates the stream now when connected, else on the first connection. */
export async function createNatsOutcomeLog(options: NatsOutcomeLogOptions): Promise<NatsOutcomeLog> {
  const { link } = options;
  const streamName = options.stream ?? "TURNOUT_OUTCOMES";
  const subject = options.subject ?? "turnout.outcomes";
  const log = options.logger.child({ component: "nats-outcomes", stream: streamName });
  const closer = new AbortController();
  let js: JetStreamClient | undefined;
  let stream: Promise<JetStreamClient> | undefined;

  /** The JetStream client once the stream exists (created on first use while connected). */
  function open(): Promise<JetStreamClient> {
    if (stream !== undefined) return stream;
    const nc = link.require(`opening stream ${streamName}`);
    stream = (async () => {
      const jsm = await jetstreamManager(nc, { timeout: link.requestTimeoutMs, checkAPI: false });
      try {
        await jsm.streams.info(streamName);
      } catch (err) {
        if ((err as Error).message !== "stream not found") throw err;
        await jsm.streams.add({
          name: streamName,
          subjects: [subject],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          num_replicas: 1,
          max_age: nanos(options.maxAgeMs ?? 7 * 24 * 3600_000),
          max_bytes: options.maxBytes ?? 1024 ** 3,
          duplicate_window: nanos(options.duplicateWindowMs ?? 120_000),
        });
        log.info("stream created");
      }
      js ??= jetstream(nc, { timeout: link.requestTimeoutMs });
      return js;
    })();
    stream.catch(() => (stream = undefined));
    return stream;
  }

  /** Ensures the durable consumer and starts pulling from it. */
  async function pull(name: string): Promise<ConsumerMessages> {
    const client = await open();
    const jsm = await client.jetstreamManager(false);
    try {
      await jsm.consumers.info(streamName, name);
    } catch (err) {
      if (!/consumer not found/i.test((err as Error).message)) throw err;
      await jsm.consumers.add(streamName, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(options.ackWaitMs ?? 10_000),
        max_ack_pending: 10_000,
        filter_subject: subject,
      });
      log.info({ consumer: name }, "durable consumer created");
    }
    const consumer = await client.consumers.get(streamName, name);
    return consumer.consume({ max_messages: 256 });
  }

  async function* consume(name: string, signal: AbortSignal): AsyncGenerator<LogEntry> {
    const both = AbortSignal.any([signal, closer.signal]);
    let failures = 0;
    /** Entries yielded by this call and not acked yet, and the seqs it acked lately. */
    const held = new Map<number, JsMsg>();
    const acked = new Set<number>();
    let messages: ConsumerMessages | undefined;
    let returning: Promise<void> = Promise.resolve();
    // entries handed out but not acked when this call ends go back to the stream at once (a
    // crashed reader's come back after ack_wait)
    both.addEventListener(
      "abort",
      () => {
        messages?.stop();
        const unacked = [...held.values()];
        held.clear();
        returning = giveBack(unacked);
      },
      { once: true },
    );
    try {
      yield* pullLoop();
    } finally {
      await returning;
    }

    async function* pullLoop(): AsyncGenerator<LogEntry> {
      while (!both.aborted) {
        try {
          await link.whenConnected(both);
        } catch {
          return;
        }
        try {
          messages = await Promise.race([pull(name), aborted(both)]);
        } catch (err) {
          if (both.aborted) return;
          log.warn({ consumer: name, err: (err as Error).message }, "cannot consume; retrying");
          await delay(RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)], both);
          continue;
        }
        failures = 0;
        const pulled = messages[Symbol.asyncIterator]();
        const notHandedOut: JsMsg[] = [];
        try {
          for (;;) {
            const next = await pulled.next();
            if (next.done) break;
            const m = next.value;
            if (both.aborted) {
              notHandedOut.push(m);
              return;
            }
            if (held.has(m.seq) || acked.has(m.seq)) {
              // delivered again while this call still holds it (after ack_wait: keep the newest
              // delivery for the ack, yield nothing), or acked since (ack again; a nats-server
              // killed before it synced the consumer state re-sends acked entries as new)
              if (acked.has(m.seq)) m.ack();
              else held.set(m.seq, m);
              continue;
            }
            held.set(m.seq, m);
            const seq = m.seq;
            yield {
              data: m.data,
              seq,
              ack: () => {
                const delivery = held.get(seq);
                if (delivery === undefined) return;
                held.delete(seq);
                delivery.ack();
                acked.add(seq);
                if (acked.size > ACKED_WINDOW) acked.delete(acked.values().next().value as number);
              },
            };
          }
        } finally {
          // entries pulled into the client's buffer but not handed out go back to the stream
          messages.stop();
          notHandedOut.push(...(await unread(pulled, held, acked)));
          await giveBack(notHandedOut);
        }
        if (!both.aborted) log.info({ consumer: name }, "consumer ended; pulling again");
      }
    }
  }

  /**
   * Naks `entries` once the server is past the stopped pull (a flush round trip), so they are
   * redelivered to the next reader at once instead of to the pull request being stopped.
   */
  async function giveBack(entries: JsMsg[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      await link.require("returning entries").flush();
    } catch {
      // not connected: they come back after ack_wait
    }
    for (const m of entries) m.nak();
  }

  async function* replay(name: string, sinceMs: number, signal: AbortSignal): AsyncGenerator<ReplayedEntry> {
    const both = AbortSignal.any([signal, closer.signal]);
    const what = `replay of ${streamName} for ${name}`;
    link.require(what);
    let client: JetStreamClient;
    let floor: number;
    let ephemeral: string;
    let pending: number;
    try {
      client = await open();
      const jsm = await client.jetstreamManager(false);
      try {
        floor = (await jsm.consumers.info(streamName, name)).ack_floor.stream_seq;
      } catch (err) {
        if (/consumer not found/i.test((err as Error).message)) return;
        throw err;
      }
      if (floor === 0) return;
      const info = await jsm.consumers.add(streamName, {
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.StartTime,
        opt_start_time: new Date(sinceMs).toISOString(),
        filter_subject: subject,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: nanos(30_000),
      });
      ephemeral = info.name;
      pending = info.num_pending;
    } catch (err) {
      throw unreachable(what, err);
    }
    try {
      const consumer = await client.consumers.get(streamName, ephemeral);
      while (pending > 0 && !both.aborted) {
        // asking for no more than is pending lets the server answer the fetch at once
        const batch = await consumer.fetch({
          max_messages: Math.min(REPLAY_BATCH, pending),
          expires: Math.max(1000, link.requestTimeoutMs),
        });
        let got = 0;
        for await (const m of batch) {
          got++;
          pending = m.info.pending;
          if (m.seq > floor)
            pending = 0; // past what was acked
          else yield { data: m.data, seq: m.seq };
          if (m.seq >= floor || both.aborted) pending = 0;
          if (pending === 0) break;
        }
        if (got === 0) {
          if (!link.connected()) throw unreachable(what);
          break; // what was pending is gone (stream limits)
        }
      }
    } catch (err) {
      if (err instanceof TurnoutError) throw err;
      throw unreachable(what, err);
    } finally {
      if (link.connected()) {
        const jsm = await client.jetstreamManager(false);
        await jsm.consumers.delete(streamName, ephemeral).catch(() => undefined);
      }
    }
  }

  if (link.connected()) {
    try {
      await open();
    } catch (err) {
      throw unreachable(`creating stream ${streamName}`, err);
    }
  }

  return {
    async append(id, data) {
      if (closer.signal.aborted) throw new TurnoutError(ErrorCode.Unavailable, "the outcome log is closed");
      link.require(`append to ${streamName}`);
      try {
        await (await open()).publish(subject, data, { msgID: id, timeout: link.requestTimeoutMs });
      } catch (err) {
        if (err instanceof TurnoutError) throw err;
        throw unreachable(`append to ${streamName}`, err);
      }
    },

    consume(consumer, signal) {
      checkConsumerName(consumer);
      return consume(consumer, signal);
    },

    replay(consumer, sinceMs, signal) {
      checkConsumerName(consumer);
      return replay(consumer, sinceMs, signal);
    },

    async close() {
      closer.abort();
    },
  };
}

/**
 * After a consume call stopped its pull: the entries still in the client's buffer, never handed
 * out (to be nak'ed); redeliveries of entries the call acked are acked again, those it still
 * holds are left to the abort handler.
 */
async function unread(pulled: AsyncIterator<JsMsg>, held: Map<number, JsMsg>, acked: Set<number>): Promise<JsMsg[]> {
  const out: JsMsg[] = [];
  try {
    for (;;) {
      const next = await pulled.next();
      if (next.done) return out;
      const m = next.value;
      if (acked.has(m.seq)) m.ack();
      else if (!held.has(m.seq)) out.push(m);
    }
  } catch {
    return out; // the pull ended with an error (connection closed): nothing more in the buffer
  }
}
