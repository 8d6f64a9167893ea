/**
 * The config file's `alerts:` block — process configuration, read at every start (unlike the
 * bootstrap state, it is never stored):
 *
 * ```yaml
 * alerts:
 *   node_window: 10s              # optional: shortest time between two alerts of one node
 *   webhooks:
 *     - url: https://hooks.slack.com/services/T000/B000/XXXX
 *       format: slack             # json (default) | slack
 *       events: [rollback, node_down, node_up, proxy_nack]   # default; gate_failed is opt-in
 *       timeout: 5s               # per attempt (default 5s)
 *       max_attempts: 5           # default 5
 *       queue_size: 1000          # alerts waiting at most; the oldest are dropped (default 1000)
 * ```
 *
 * A webhook URL is a credential: error messages name its field, never its value.
 */
import { invalidArgument, type FieldViolation } from "../../errors.ts";
import { ALERT_KINDS, isAlertKind, type AlertKind } from "../alerts/alert.ts";
import { WebhookFormat } from "../alerts/alert-body.ts";
import type { WebhookConfig } from "../alerts/webhook-notifier.ts";
import { type Problems, at, readDuration, readInt, readList, readMap, readString } from "./config-reader.ts";

/** The alerts settings of a config file (or of CLI flags). */
export interface AlertsConfig {
  /** Webhooks, in file order. */
  webhooks: WebhookConfig[];
  /** Shortest time between two alerts of one node, in ms. Default: the stage's (10 s). */
  nodeWindowMs?: number;
}

const FORMATS: readonly string[] = Object.values(WebhookFormat);
const MAX_TIMEOUT_MS = 300_000;

/** Problem with `url` as a webhook URL, or undefined when it is an absolute http(s) URL. */
function webhookUrlProblem(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    if ((parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.hostname !== "") return undefined;
  } catch {
    // reported below
  }
  return "must be an http(s) URL";
}

function readWebhook(value: unknown, path: string, p: Problems): WebhookConfig | undefined {
  if (typeof value === "string") {
    p.bad(path, "must be a mapping with a url, got a string"); // never echo what may be a URL
    return undefined;
  }
  const m = readMap(value, path, p, ["url", "format", "events", "timeout", "max_attempts", "queue_size"]);
  if (m === undefined) {
    if (!p.covers(path)) p.add(path, "must be a mapping with a url");
    return undefined;
  }
  let url: string | undefined;
  if (typeof m.url !== "string" || m.url.trim() === "") p.add(at(path, "url"), "must be an http(s) URL");
  else {
    const problem = webhookUrlProblem(m.url.trim());
    if (problem) p.add(at(path, "url"), problem);
    else url = m.url.trim();
  }
  const format = readString(m.format, at(path, "format"), p);
  if (format !== undefined && !FORMATS.includes(format))
    p.add(at(path, "format"), `must be one of ${FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  let events: AlertKind[] | undefined;
  const list = readList(m.events, at(path, "events"), p);
  if (list !== undefined) {
    events = [];
    list.forEach((item, i) => {
      const name = readString(item, at(at(path, "events"), i), p);
      if (name === undefined) return;
      if (isAlertKind(name)) events!.push(name);
      else p.add(at(at(path, "events"), i), `unknown event ${JSON.stringify(name)} (known: ${ALERT_KINDS.join(", ")})`);
    });
    if (list.length === 0) p.add(at(path, "events"), "must name at least one event (leave it out for the default)");
  }
  const timeoutMs = readDuration(m.timeout, at(path, "timeout"), p);
  if (timeoutMs !== undefined && (timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS))
    p.add(at(path, "timeout"), "must be from 1ms to 5m");
  const maxAttempts = readInt(m.max_attempts, at(path, "max_attempts"), p, 1, 100);
  const queueSize = readInt(m.queue_size, at(path, "queue_size"), p, 1, 1_000_000);
  if (url === undefined) return undefined;
  return {
    url,
    format: format === WebhookFormat.Slack ? WebhookFormat.Slack : WebhookFormat.Json,
    ...(events !== undefined && { events }),
    ...(timeoutMs !== undefined && { timeoutMs }),
    ...(maxAttempts !== undefined && { maxAttempts }),
    ...(queueSize !== undefined && { queueSize }),
  };
}

/** Reads the `alerts` block at `path` (undefined when absent); problems go to `p`. */
export function readAlertsConfig(value: unknown, p: Problems, path = "alerts"): AlertsConfig | undefined {
  const m = readMap(value, path, p, ["webhooks", "node_window"]);
  if (m === undefined) return undefined;
  const webhooks: WebhookConfig[] = [];
  (readList(m.webhooks, at(path, "webhooks"), p) ?? []).forEach((w, i) => {
    const webhook = readWebhook(w, at(at(path, "webhooks"), i), p);
    if (webhook) webhooks.push(webhook);
  });
  const nodeWindowMs = readDuration(m.node_window, at(path, "node_window"), p);
  return { webhooks, ...(nodeWindowMs !== undefined && { nodeWindowMs }) };
}

/**
 * The alerts of a process: the config file's block plus the CLI flags `--alert-webhook URL` (json)
 * and `--alert-slack URL` (slack), repeatable, each with every default event. Throws
 * `invalid_argument` naming the flag for a URL that is not http(s) (without echoing it).
 */
export function withAlertFlags(
  file: AlertsConfig | undefined,
  json: readonly string[] = [],
  slack: readonly string[] = [],
): AlertsConfig {
  const violations: FieldViolation[] = [];
  const webhooks: WebhookConfig[] = [...(file?.webhooks ?? [])];
  const add = (urls: readonly string[], flag: string, format: WebhookFormat) => {
    for (const url of urls) {
      const problem = webhookUrlProblem(url.trim());
      if (problem) violations.push({ field: flag, message: problem });
      else webhooks.push({ url: url.trim(), format });
    }
  };
  add(json, "--alert-webhook", WebhookFormat.Json);
  add(slack, "--alert-slack", WebhookFormat.Slack);
  if (violations.length > 0) throw invalidArgument(violations);
  return { ...file, webhooks };
}
