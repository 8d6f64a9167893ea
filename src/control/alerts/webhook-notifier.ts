/**
 * One webhook's notifier: alerts in (enqueue, synchronous and O(1), never waits), HTTP POSTs out.
 * A bounded queue sits between: when the receiver is slow or down and the queue is full, the
 * oldest alert is dropped (counted) — memory stays bounded and nothing upstream slows down. One
 * delivery at a time, in order, with undici `request` over its own Agent; each attempt has a
 * timeout; failures are retried as retry-policy.ts says, up to `maxAttempts`, then given up with
 * one log line. The webhook URL is a credential (a Slack webhook's path is its secret): only its
 * origin is ever logged or exported.
 */
import { Agent, request } from "undici";
import type { Logger } from "../../log.ts";
import { delay } from "../../delay.ts";
import { DEFAULT_ALERT_KINDS, type Alert, type AlertKind } from "./alert.ts";
import { alertBody, WebhookFormat } from "./alert-body.ts";
import { deliveredStatus, parseRetryAfter, retryDelayMs, retryableStatus, type BackoffOptions } from "./retry-policy.ts";

/** One webhook's settings (the config file's `alerts.webhooks[i]`, or a CLI flag). */
export interface WebhookConfig {
  /** http(s) URL to POST to. A credential: never logged. */
  url: string;
  /** Body format. Default "json". */
  format?: WebhookFormat;
  /** Kinds sent to this webhook. Default {@link DEFAULT_ALERT_KINDS}. */
  events?: readonly AlertKind[];
  /** Per-attempt timeout (connect to the end of the answer), in ms. Default 5000. */
  timeoutMs?: number;
  /** Attempts per alert before giving up. Default 5. */
  maxAttempts?: number;
  /** Alerts queued at most; the oldest is dropped for a new one when full. Default 1000. */
  queueSize?: number;
}

/** Options of {@link createWebhookNotifier}. */
export interface WebhookNotifierOptions extends WebhookConfig {
  logger: Logger;
  /** Retry waits (tests shorten them). Default: see retry-policy.ts. */
  backoff?: BackoffOptions;
}

/** Per-kind counts of one notifier. */
export interface NotifierCounts {
  /** Delivered (a 2xx answer). */
  sent: ReadonlyMap<AlertKind, number>;
  /** Given up on (attempts exhausted, or an answer not worth retrying). */
  failed: ReadonlyMap<AlertKind, number>;
  /** Dropped from a full queue, or still queued at shutdown. */
  dropped: ReadonlyMap<AlertKind, number>;
  /** Attempts that failed and were retried. */
  retries: number;
}

/** A running notifier. */
export interface WebhookNotifier {
  /** The URL's origin (`https://hooks.slack.com`): safe to log and export. */
  readonly origin: string;
  readonly format: WebhookFormat;
  /** True when this webhook wants `kind`. */
  wants(kind: AlertKind): boolean;
  /** Queues `alert` for delivery; never blocks, never throws. */
  enqueue(alert: Alert): void;
  /** Alerts waiting (not counting the one being delivered). */
  queued(): number;
  counts(): NotifierCounts;
  /** Stops taking alerts, lets the queue drain for up to `graceMs` (default 1000), then aborts the rest. */
  close(graceMs?: number): Promise<void>;
}

function bump(map: Map<AlertKind, number>, kind: AlertKind): void {
  map.set(kind, (map.get(kind) ?? 0) + 1);
}

/** Creates a notifier and starts its delivery loop. */
export function createWebhookNotifier(options: WebhookNotifierOptions): WebhookNotifier {
  const url = new URL(options.url);
  const origin = url.origin;
  const format = options.format ?? WebhookFormat.Json;
  const kinds = new Set<AlertKind>(options.events ?? DEFAULT_ALERT_KINDS);
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const queueSize = Math.max(1, options.queueSize ?? 1000);
  const log = options.logger.child({ component: "alerts", webhook: origin, format });
  const dispatcher = new Agent({ connect: { timeout: timeoutMs }, keepAliveTimeout: 10_000 });
  const stop = new AbortController();
  const sent = new Map<AlertKind, number>();
  const failed = new Map<AlertKind, number>();
  const dropped = new Map<AlertKind, number>();
  let retries = 0;
  let queue: Alert[] = [];
  let head = 0;
  let wake: (() => void) | undefined;
  let accepting = true;
  let idle: (() => void) | undefined;
  let lastDropLog = 0;

  /** An error's message with the URL's path (the secret) cut out. */
  const secret = `${url.pathname}${url.search}`;
  const redact = (message: string) =>
    secret.length > 1 ? message.split(options.url).join(origin).split(secret).join("/…") : message;

  /** One POST: "delivered", "retry" (with the wait a Retry-After asks, if any) or "give up". */
  async function attempt(
    body: string,
  ): Promise<{ result: "delivered" | "retry" | "give_up"; why: string; retryAfterMs?: number }> {
    try {
      const res = await request(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "turnout-alerts" },
        body,
        dispatcher,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)]),
      });
      await res.body.dump();
      if (deliveredStatus(res.statusCode)) return { result: "delivered", why: "" };
      const why = `HTTP ${res.statusCode}`;
      if (!retryableStatus(res.statusCode)) return { result: "give_up", why };
      return { result: "retry", why, retryAfterMs: parseRetryAfter(res.headers["retry-after"], Date.now()) };
    } catch (err) {
      const e = err as Error & { code?: string };
      const why = stop.signal.aborted
        ? "shutting down"
        : redact(e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (e.code ?? e.message));
      return { result: "retry", why };
    }
  }

  async function deliver(alert: Alert): Promise<void> {
    const body = alertBody(format, alert);
    for (let n = 1; ; n++) {
      const { result, why, retryAfterMs } = await attempt(body);
      if (result === "delivered") {
        bump(sent, alert.kind);
        if (n > 1) log.info({ kind: alert.kind, attempts: n }, "alert delivered after retries");
        return;
      }
      if (stop.signal.aborted) {
        bump(dropped, alert.kind);
        return;
      }
      if (result === "give_up" || n >= maxAttempts) {
        bump(failed, alert.kind);
        log.warn({ kind: alert.kind, attempts: n, error: why }, "alert not delivered; giving up");
        return;
      }
      retries++;
      const wait = retryDelayMs(n, retryAfterMs, options.backoff);
      log.debug({ kind: alert.kind, attempt: n, error: why, retryInMs: wait }, "alert delivery failed; retrying");
      await delay(wait, stop.signal);
    }
  }

  const loop = (async () => {
    while (!stop.signal.aborted) {
      if (head < queue.length) {
        const alert = queue[head++];
        await deliver(alert);
        continue;
      }
      queue = [];
      head = 0;
      idle?.();
      if (!accepting) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  })();

  return {
    origin,
    format,
    wants: (kind) => kinds.has(kind),
    enqueue(alert) {
      if (!accepting) return;
      if (queue.length - head >= queueSize) {
        const oldest = queue[head++];
        bump(dropped, oldest.kind);
        if (Date.now() - lastDropLog >= 10_000) {
          lastDropLog = Date.now();
          log.warn(
            { kind: oldest.kind, queueSize },
            "alert queue full: dropping the oldest alerts (see turnout_alerts_dropped_total)",
          );
        }
      }
      queue.push(alert);
      if (head > 1024 && head * 2 > queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
      wake?.();
    },
    queued: () => queue.length - head,
    counts: () => ({ sent, failed, dropped, retries }),
    async close(graceMs = 1000) {
      if (!accepting) return;
      accepting = false;
      const drained = new Promise<void>((resolve) => (idle = resolve));
      wake?.();
      const timer = setTimeout(() => stop.abort(), graceMs);
      await Promise.race([drained, loop]);
      clearTimeout(timer);
      stop.abort();
      wake?.();
      await loop;
      for (let i = head; i < queue.length; i++) bump(dropped, queue[i].kind);
      queue = [];
      head = 0;
      await dispatcher.destroy();
    },
  };
}
