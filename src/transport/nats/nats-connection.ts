/**
 * The one NATS connection of a process, wrapped as a {@link NatsLink}: it reconnects forever
 * (`maxReconnectAttempts: -1`), logs disconnects and reconnects from the client's status
 * iterator, and knows whether the server is reachable right now, so that a write while NATS is
 * down fails at once with `TurnoutError(ErrorCode.Unavailable, "NATS is unreachable: ...")` instead of
 * waiting for a timeout. Requests still in flight when the server goes away time out after
 * `requestTimeoutMs`.
 *
 * With `waitForFirstConnect`, {@link connectNats} resolves before the first connection is made
 * (a proxy can start serving from its disk copy while NATS is down); operations fail with
 * `unavailable` and watches/consumers wait until the server is there.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";

/** Options of {@link connectNats}. */
export interface NatsConnectOptions {
  /** Server URL(s), e.g. "nats://127.0.0.1:4222". */
  servers: string | string[];
  /** Client name shown by the server's monitoring (e.g. "turnout-proxy-<id>"). */
  name: string;
  /** Logger for connection events (a child with component "nats" is made). */
  logger: Logger;
  /** Timeout of KV and JetStream requests in ms (a write cannot hang longer). Default 2000. */
  requestTimeoutMs?: number;
  /** Resolve at once and keep trying to connect in the background. Default false: reject when unreachable. */
  waitForFirstConnect?: boolean;
  /** Delay between reconnect attempts in ms. Default 250. */
  reconnectTimeWaitMs?: number;
}

/** A NATS connection that may not be established yet, with its reachability. */
export interface NatsLink {
  /** The client name. */
  readonly name: string;
  /** Timeout of KV and JetStream requests, in ms. */
  readonly requestTimeoutMs: number;
  /** True while connected to a server. */
  connected(): boolean;
  /** The connection, throwing `unavailable` when not connected right now (`what` names the operation). */
  require(what: string): NatsConnection;
  /** The connection once first established (it may be disconnected again by then). */
  ready(signal?: AbortSignal): Promise<NatsConnection>;
  /** Resolves when connected (at once if connected now); rejects when `signal` aborts or the link closes. */
  whenConnected(signal?: AbortSignal): Promise<NatsConnection>;
  /** Drains (while connected, at most `requestTimeoutMs`) and closes the connection; stops a pending first connect. */
  close(): Promise<void>;
}

/** Builds the `unavailable` error every NATS operation throws when the server cannot be reached. */
export function unreachable(what: string, cause?: unknown): TurnoutError {
  const detail = cause instanceof Error ? cause.message : cause === undefined ? "not connected" : String(cause);
  return new TurnoutError(ErrorCode.Unavailable, `NATS is unreachable: ${what} failed (${detail})`, { cause });
}

/** Rejects when `signal` aborts. */
export function aborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (signal === undefined) return;
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** Connects to NATS; see {@link NatsConnectOptions}. */
export async function connectNats(options: NatsConnectOptions): Promise<NatsLink> {
  const log = options.logger.child({ component: "nats" });
  const requestTimeoutMs = options.requestTimeoutMs ?? 2000;
  const servers = options.servers;
  let nc: NatsConnection | undefined;
  let isConnected = false;
  let closed = false;
  let waiters: Array<() => void> = [];

  const setConnected = (value: boolean) => {
    isConnected = value;
    if (value) {
      for (const wake of waiters) wake();
      waiters = [];
    }
  };

  let retryTimer: NodeJS.Timeout | undefined;
  let wakeRetry: (() => void) | undefined;
  const connectOptions = {
    servers,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
    reconnectJitter: 100,
    timeout: requestTimeoutMs,
    pingInterval: 10_000,
    maxPingOut: 2,
  };
  /** First connection: once, or (waitForFirstConnect) until it works or the link is closed. */
  async function firstConnect(): Promise<NatsConnection> {
    let logged = false;
    for (;;) {
      try {
        return await connect(connectOptions);
      } catch (err) {
        if (!options.waitForFirstConnect || closed) throw err;
        if (!logged) log.warn({ err: (err as Error).message }, "NATS is unreachable; retrying in the background");
        logged = true;
        await new Promise<void>((resolve) => {
          wakeRetry = resolve;
          retryTimer = setTimeout(resolve, connectOptions.reconnectTimeWait);
        });
        if (closed) throw new TurnoutError(ErrorCode.Unavailable, "the NATS connection is closed");
      }
    }
  }

  const connecting = firstConnect().then((conn) => {
    nc = conn;
    if (closed) void conn.close();
    log.info({ server: conn.getServer() }, "connected to NATS");
    setConnected(true);
    void (async () => {
      for await (const s of conn.status()) {
        if (s.type === "disconnect") {
          setConnected(false);
          log.warn({ server: s.server }, "disconnected from NATS; reconnecting");
        } else if (s.type === "reconnect") {
          setConnected(true);
          log.info({ server: s.server }, "reconnected to NATS");
        } else if (s.type === "error") {
          log.warn({ err: s.error.message }, "NATS error");
        } else if (s.type === "staleConnection") {
          setConnected(false);
          log.warn("NATS connection stale; reconnecting");
        }
      }
    })();
    void conn.closed().then(() => {
      setConnected(false);
      for (const wake of waiters) wake();
      waiters = [];
    });
    return conn;
  });

  if (options.waitForFirstConnect) {
    connecting.catch((err: unknown) => {
      if (!closed) log.error({ err: (err as Error).message }, "NATS connection failed");
    });
  } else {
    try {
      await connecting;
    } catch (cause) {
      throw new TurnoutError(
        ErrorCode.Unavailable,
        `NATS is unreachable: cannot connect to ${String(servers)} (${(cause as Error).message})`,
        { cause },
      );
    }
  }

  const link: NatsLink = {
    name: options.name,
    requestTimeoutMs,
    connected: () => isConnected && nc !== undefined && !nc.isClosed(),
    require(what) {
      if (nc === undefined || !link.connected()) throw unreachable(what);
      return nc;
    },
    ready(signal) {
      return Promise.race([connecting, aborted(signal)]);
    },
    async whenConnected(signal) {
      for (;;) {
        signal?.throwIfAborted();
        if (closed) throw new TurnoutError(ErrorCode.Unavailable, "the NATS connection is closed");
        if (link.connected()) return nc!;
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), aborted(signal)]);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      wakeRetry?.();
      for (const wake of waiters) wake();
      waiters = [];
      if (nc === undefined || nc.isClosed()) return;
      // drain (flushes pending acks and publishes) only while connected, and not for ever
      if (isConnected) {
        let timer: NodeJS.Timeout | undefined;
        const giveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, requestTimeoutMs)));
        await Promise.race([nc.drain().catch(() => undefined), giveUp]);
        clearTimeout(timer);
      }
      if (!nc.isClosed()) await nc.close();
    },
  };
  return link;
}
