/**
 * The alerts stage, wired in data-flow order: bus events in (ProxyStatus NACKs, NodeHealthChanged,
 * RolloutEvent; see alert-decoder.ts) → decode → dedupe (node events: node-dedupe.ts; NACKs: one
 * per proxy, snapshot version and error) → enqueue on every webhook that wants the kind → each
 * webhook's notifier delivers with retries (webhook-notifier.ts). The subscribers only decode and
 * enqueue, synchronously: a slow or dead webhook never slows the bus, the proxy or admin RPCs.
 * Counters for the admin port's `/metrics` come out.
 */
import type { Logger } from "../../log.ts";
import { delay } from "../../delay.ts";
import { PrometheusWriter, type Labels } from "../../stats/prometheus-text.ts";
import type { EventBus } from "../../transport/types.ts";
import type { Alert, AlertKind } from "./alert.ts";
import { ALERT_SUBJECTS, decodeNodeHealth, decodeProxyNack, decodeRolloutEvent, nodeAlert } from "./alert-decoder.ts";
import { createNodeDedupe } from "./node-dedupe.ts";
import { createWebhookNotifier, type WebhookConfig, type WebhookNotifier } from "./webhook-notifier.ts";
import type { BackoffOptions } from "./retry-policy.ts";

/** Options of {@link createAlerts}. */
export interface AlertsOptions {
  /** Bus the events arrive on. */
  bus: EventBus;
  /** Webhooks to notify; with none, nothing subscribes and nothing is sent. */
  webhooks: readonly WebhookConfig[];
  logger: Logger;
  /** Shortest time between two alerts of one node, in ms (see node-dedupe.ts). Default 10000. */
  nodeWindowMs?: number;
  /** Alerts queued per webhook before the oldest are dropped, unless the webhook says. Default 1000. */
  queueSize?: number;
  /** Retry waits (tests shorten them). Default: see retry-policy.ts. */
  backoff?: BackoffOptions;
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
}

/** The running alerts stage. */
export interface Alerts {
  /** The notifiers, one per webhook, in config order. */
  readonly notifiers: readonly WebhookNotifier[];
  /** Prometheus text of the alert counters (empty without webhooks). */
  prometheusText(): string;
  /** Unsubscribes, lets queued alerts go out for up to `graceMs` (default 1000), then stops. */
  close(graceMs?: number): Promise<void>;
}

/** NACKs remembered for dedupe. */
const RECENT_NACKS = 1000;

/** Starts the alerts stage: subscribes at once when there are webhooks. */
export function createAlerts(options: AlertsOptions): Alerts {
  const log = options.logger.child({ component: "alerts" });
  const now = options.now ?? Date.now;
  const stop = new AbortController();
  const notifiers = options.webhooks.map((w) =>
    createWebhookNotifier({
      ...w,
      queueSize: w.queueSize ?? options.queueSize,
      logger: options.logger,
      backoff: options.backoff,
    }),
  );
  const recentNacks = new Set<string>();
  const malformed = new Map<string, number>();
  const raised = new Map<AlertKind, number>();

  function raise(alert: Alert): void {
    raised.set(alert.kind, (raised.get(alert.kind) ?? 0) + 1);
    for (const n of notifiers) if (n.wants(alert.kind)) n.enqueue(alert);
  }
  const nodes = createNodeDedupe({ windowMs: options.nodeWindowMs, now, emit: (e) => raise(nodeAlert(e)) });

  // Each answers false for a payload it could not decode.
  const handlers: Record<keyof typeof ALERT_SUBJECTS, (data: Uint8Array) => boolean> = {
    proxy(data) {
      const alert = decodeProxyNack(data, now());
      if (typeof alert === "string") return alert === "ignored";
      const d = alert.details;
      const key = `${d.proxy}\u0000${d.version}\u0000${d.error}`;
      if (recentNacks.has(key)) return true; // the same NACK reported again
      if (recentNacks.size >= RECENT_NACKS) recentNacks.delete(recentNacks.values().next().value!);
      recentNacks.add(key);
      raise(alert);
      return true;
    },
    node(data) {
      const event = decodeNodeHealth(data, now());
      if (event === "malformed") return false;
      nodes.observe(event);
      return true;
    },
    rollout(data) {
      const alert = decodeRolloutEvent(data, now());
      if (typeof alert === "string") return alert === "ignored";
      raise(alert);
      return true;
    },
  };

  /** Follows one subject until close; a subscription that ends by itself is made again. */
  async function follow(name: keyof typeof ALERT_SUBJECTS): Promise<void> {
    const subject = ALERT_SUBJECTS[name];
    while (!stop.signal.aborted) {
      try {
        for await (const message of options.bus.subscribe(subject, stop.signal)) {
          if (!handlers[name](message.data)) malformed.set(name, (malformed.get(name) ?? 0) + 1);
        }
      } catch (err) {
        log.warn({ subject, err: (err as Error).message }, "alert subscription failed");
      }
      await delay(1000, stop.signal);
    }
  }
  const following = notifiers.length === 0 ? [] : (Object.keys(ALERT_SUBJECTS) as (keyof typeof ALERT_SUBJECTS)[]).map(follow);
  if (notifiers.length > 0) log.info({ webhooks: notifiers.map((n) => `${n.format} ${n.origin}`) }, "alerts on");

  return {
    notifiers,
    prometheusText() {
      if (notifiers.length === 0) return "";
      const sum = (pick: (n: WebhookNotifier) => ReadonlyMap<AlertKind, number>) => {
        const totals = new Map<string, [Labels, number]>();
        for (const n of notifiers) {
          for (const [kind, count] of pick(n)) {
            const key = `${n.origin} ${kind}`;
            totals.set(key, [{ webhook: n.origin, kind }, (totals.get(key)?.[1] ?? 0) + count]);
          }
        }
        return totals.values();
      };
      const perWebhook = (value: (n: WebhookNotifier) => number) => {
        const totals = new Map<string, number>();
        for (const n of notifiers) totals.set(n.origin, (totals.get(n.origin) ?? 0) + value(n));
        return [...totals].map(([webhook, v]): [Labels, number] => [{ webhook }, v]);
      };
      const w = new PrometheusWriter();
      w.counter(
        "turnout_alerts_raised_total",
        "Alerts raised from bus events (after dedupe), by kind, before webhook filtering.",
        [...raised].map(([kind, v]): [Labels, number] => [{ kind }, v]),
      );
      w.counter(
        "turnout_alerts_sent_total",
        "Alerts delivered (2xx), by webhook origin and kind.",
        sum((n) => n.counts().sent),
      );
      w.counter(
        "turnout_alerts_failed_total",
        "Alerts given up on after the last attempt or a non-retryable answer, by webhook origin and kind.",
        sum((n) => n.counts().failed),
      );
      w.counter(
        "turnout_alerts_dropped_total",
        "Alerts dropped from a full queue or unsent at shutdown, by webhook origin and kind.",
        sum((n) => n.counts().dropped),
      );
      w.counter(
        "turnout_alerts_retries_total",
        "Delivery attempts that failed and were retried, by webhook origin.",
        perWebhook((n) => n.counts().retries),
      );
      w.gauge(
        "turnout_alerts_queued",
        "Alerts waiting for delivery, by webhook origin.",
        perWebhook((n) => n.queued()),
      );
      w.counter(
        "turnout_alerts_events_malformed_total",
        "Bus events the alerts stage could not decode, by event (proxy, node, rollout).",
        [...malformed].map(([event, v]): [Labels, number] => [{ event }, v]),
      );
      w.counter(
        "turnout_alerts_node_events_suppressed_total",
        "Node health events folded into an alert already sent or held (see the dedupe rule).",
        [[undefined, nodes.suppressed()]],
      );
      return w.text();
    },
    async close(graceMs) {
      if (stop.signal.aborted) return;
      stop.abort();
      nodes.close();
      await Promise.all(following);
      await Promise.all(notifiers.map((n) => n.close(graceMs)));
    },
  };
}
