/**
 * The distributed Transport: one NATS connection carrying the JetStream KV store (state and the
 * published snapshot), the core-NATS event bus and the JetStream outcome log. See the three
 * implementations for the bucket and stream settings.
 */
import type { Logger } from "../../log.ts";
import type { Transport } from "../types.ts";
import { connectNats, type NatsLink } from "./nats-connection.ts";
import type { NatsCredentials } from "./nats-credentials.ts";
import { createNatsEventBus, type NatsEventBus } from "./nats-event-bus.ts";
import { createNatsKvStore } from "./nats-kv-store.ts";
import { createNatsOutcomeLog, type NatsOutcomeLog } from "./nats-outcome-log.ts";

/** Options of {@link createNatsTransport}. */
export interface NatsTransportOptions {
  /** NATS server URL(s) (may carry `user:password@` or `token@`; `tls://` requires TLS). */
  servers: string | string[];
  /** Credentials and TLS files (see nats-credentials.ts). Default none. */
  credentials?: NatsCredentials;
  /** Client name (shown by the server), e.g. "turnout-control" or "turnout-proxy-<id>". */
  name: string;
  /** Logger for connection and transport events. */
  logger: Logger;
  /** Timeout of KV and JetStream requests in ms. Default 2000. */
  requestTimeoutMs?: number;
  /**
   * Resolve even when NATS is unreachable and connect in the background (a proxy restarted
   * during an outage serves from its disk copy meanwhile). Default false: reject with
   * `unavailable` when NATS cannot be reached.
   */
  waitForFirstConnect?: boolean;
  /** KV bucket of the state. Default "turnout_state". */
  bucket?: string;
  /** Outcome stream name. Default "TURNOUT_OUTCOMES". */
  stream?: string;
  /** Outcome stream subject. Default "turnout.outcomes". */
  subject?: string;
}

/** The NATS transport, with its link (reachability, `whenConnected`). */
export interface NatsTransport extends Transport {
  readonly link: NatsLink;
  readonly bus: NatsEventBus;
  readonly outcomes: NatsOutcomeLog;
}

/** Connects and opens the store, bus and outcome log (buckets and streams created when missing). */
export async function createNatsTransport(options: NatsTransportOptions): Promise<NatsTransport> {
  const { logger } = options;
  const link = await connectNats({
    servers: options.servers,
    name: options.name,
    logger,
    requestTimeoutMs: options.requestTimeoutMs,
    waitForFirstConnect: options.waitForFirstConnect,
    credentials: options.credentials,
  });
  try {
    const store = await createNatsKvStore({ link, logger, bucket: options.bucket });
    const outcomes = await createNatsOutcomeLog({ link, logger, stream: options.stream, subject: options.subject });
    const bus = createNatsEventBus({ link, logger });
    let closing: Promise<void> | undefined;
    return {
      link,
      store,
      bus,
      outcomes,
      close() {
        closing ??= (async () => {
          await Promise.all([store.close(), outcomes.close()]);
          await link.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await link.close();
    throw err;
  }
}
