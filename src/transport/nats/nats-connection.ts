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
 *
 * Credentials and TLS: see nats-credentials.ts; a user and password or a token may also come in
 * the server URL (nats-url.ts). A server that refuses the credentials (or a TLS handshake that
 * fails) is a configuration error, not an outage: without `waitForFirstConnect` the first connect
 * fails at once with `failed_precondition` saying so; with it, and on reconnects after the
 * credentials were revoked, every refusal is logged as an error (at most one line per
 * `refusedRetryMs`) and retried at that pace, so a fixed file or server config is picked up.
 * Passwords and tokens never appear in errors or log lines.
 */
import { connect, TimeoutError, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { describeRefusal, natsAuthOptions, type NatsCredentials } from "./nats-credentials.ts";
import { splitNatsUrls } from "./nats-url.ts";

/** Options of {@link connectNats}. */
export interface NatsConnectOptions {
  /** Server URL(s), e.g. "nats://127.0.0.1:4222" (may carry `user:password@` or `token@`; `tls://` requires TLS). */
  servers: string | string[];
  /** Credentials and TLS files. Default: none (or those in the URL). */
  credentials?: NatsCredentials;
  /** Pace of retries, and of the error lines, while the server refuses the credentials or TLS fails, in ms. Default 5000. */
  refusedRetryMs?: number;
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
  const refusedRetryMs = options.refusedRetryMs ?? 5000;
  const { servers, credentials: inUrl } = splitNatsUrls(options.servers);
  const given = options.credentials ?? {};
  if (Object.keys(inUrl).length > 0 && (given.credsFile ?? given.nkeyFile ?? given.token ?? given.user) !== undefined) {
    throw new TurnoutError(ErrorCode.InvalidArgument, "NATS credentials: give them in the URL or as options, not both");
  }
  const auth = natsAuthOptions({ ...given, ...inUrl }, log);
  const where = servers.join(",");
  let nc: NatsConnection | undefined;
  let isConnected = false;
  let closed = false;
  let waiters: Array<() => void> = [];
  /** Why the server refused the last attempt, while it does (shown in `unavailable` errors). */
  let refused: string | undefined;
  let refusedLoggedAt = 0;

  const setConnected = (value: boolean) => {
    isConnected = value;
    if (value) {
      refused = undefined;
      for (const wake of waiters) wake();
      waiters = [];
    }
  };
  /** Logs a refusal as an error, at most once per `refusedRetryMs`. */
  const logRefusal = (why: string) => {
    refused = why;
    if (Date.now() - refusedLoggedAt < refusedRetryMs) return;
    refusedLoggedAt = Date.now();
    log.error(`${why}; retrying every ${refusedRetryMs} ms`);
  };

  let retryTimer: NodeJS.Timeout | undefined;
  let wakeRetry: (() => void) | undefined;
  const reconnectTimeWait = options.reconnectTimeWaitMs ?? 250;
  const connectOptions: ConnectionOptions = {
    servers,
    name: options.name,
    authenticator: auth.authenticator,
    tls: auth.tls ?? (servers.some((s) => /^tls:\/\//i.test(s)) ? {} : undefined),
    // keep trying while the server refuses the credentials (pacing them), so a fix is picked up
    ignoreAuthErrorAbort: true,
    maxReconnectAttempts: -1,
    reconnectDelayHandler: () => (refused !== undefined ? refusedRetryMs : reconnectTimeWait + Math.floor(Math.random() * 101)),
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
        const why = describeRefusal(err, auth.identity, where);
        if (why !== undefined) logRefusal(why);
        else if (!logged) log.warn({ err: (err as Error).message }, "NATS is unreachable; retrying in the background");
        logged = true;
        await new Promise<void>((resolve) => {
          wakeRetry = resolve;
          retryTimer = setTimeout(resolve, why !== undefined ? refusedRetryMs : reconnectTimeWait);
        });
        if (closed) throw new TurnoutError(ErrorCode.Unavailable, "the NATS connection is closed");
      }
    }
  }

  const connecting = firstConnect().then((conn) => {
    nc = conn;
    if (closed) void conn.close();
    log.info({ server: conn.getServer(), as: auth.identity, tls: connectOptions.tls !== undefined }, "connected to NATS");
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
          const why = describeRefusal(s.error, auth.identity, where);
          if (why !== undefined) logRefusal(why);
          else log.warn({ err: s.error.message }, "NATS error");
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
      const why = describeRefusal(cause, auth.identity, where);
      if (why !== undefined) throw new TurnoutError(ErrorCode.FailedPrecondition, why, { cause });
      // a TLS 1.3 server that wants a client certificate drops a client without one after the handshake
      const tls = connectOptions.tls;
      const hint =
        cause instanceof TimeoutError && tls && tls.certFile === undefined
          ? "; over TLS without a client certificate, a server that requires one looks like this"
          : "";
      const detail = `${(cause as Error).message}${hint}`;
      throw new TurnoutError(ErrorCode.Unavailable, `NATS is unreachable: cannot connect to ${where} (${detail})`, { cause });
    }
  }

  const link: NatsLink = {
    name: options.name,
    requestTimeoutMs,
    connected: () => isConnected && nc !== undefined && !nc.isClosed(),
    require(what) {
      if (nc === undefined || !link.connected()) throw unreachable(what, refused);
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
