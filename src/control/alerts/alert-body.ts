/**
 * Webhook bodies of an alert, one per format:
 *
 * - `json`: a stable generic body,
 *   `{ "source": "turnout", "kind", "severity", "title", "text", "at", "details": { … } }`;
 *   fields are only ever added, never renamed or removed.
 * - `slack`: Slack's incoming-webhook message, `{ "text", "blocks" }`: `text` is the notification
 *   fallback; blocks are a header (plain_text, ≤ 150 chars), a section with the text (mrkdwn,
 *   ≤ 3000), a section of up to 10 fields (≤ 2000 each) and a context line. `&`, `<` and `>` are
 *   escaped in mrkdwn, so an event's text can never ping a channel (`<!channel>`) or fake a link.
 */
import { ALERT_SEVERITY, type Alert } from "./alert.ts";

/** Body formats of a webhook. */
export const WebhookFormat = {
  /** The generic JSON body. */
  Json: "json",
  /** Slack's incoming-webhook message. */
  Slack: "slack",
} as const;
export type WebhookFormat = (typeof WebhookFormat)[keyof typeof WebhookFormat];

/** The generic JSON body. */
export interface JsonAlertBody {
  source: "turnout";
  kind: Alert["kind"];
  severity: string;
  title: string;
  text: string;
  at: string;
  details: Record<string, string | number | boolean>;
}

/** The generic JSON body of `alert`. */
function jsonBody(alert: Alert): JsonAlertBody {
  return {
    source: "turnout",
    kind: alert.kind,
    severity: ALERT_SEVERITY[alert.kind],
    title: alert.title,
    text: alert.text,
    at: alert.at,
    details: { ...alert.details },
  };
}

const EMOJI = { critical: ":red_circle:", warning: ":warning:", info: ":large_green_circle:" } as const;

/** Text safe in Slack mrkdwn: `&`, `<`, `>` escaped as Slack documents. */
function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Slack's incoming-webhook body of `alert`. */
function slackBody(alert: Alert): { text: string; blocks: Record<string, unknown>[] } {
  const emoji = EMOJI[ALERT_SEVERITY[alert.kind]];
  const fields = Object.entries(alert.details)
    .slice(0, 10)
    .map(([name, value]) => ({ type: "mrkdwn", text: cut(`*${slackEscape(name)}*\n${slackEscape(String(value))}`, 2000) }));
  const blocks: Record<string, unknown>[] = [
    { type: "header", text: { type: "plain_text", text: cut(alert.title, 150), emoji: true } },
    { type: "section", text: { type: "mrkdwn", text: cut(`${emoji} ${slackEscape(alert.text)}`, 3000) } },
  ];
  if (fields.length > 0) blocks.push({ type: "section", fields });
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `turnout · ${alert.kind} · ${slackEscape(alert.at)}` }] });
  return { text: cut(`${emoji} ${slackEscape(alert.title)}: ${slackEscape(alert.text)}`, 3000), blocks };
}

/** The body of `alert` in `format`, as JSON text. */
export function alertBody(format: WebhookFormat, alert: Alert): string {
  return JSON.stringify(format === WebhookFormat.Slack ? slackBody(alert) : jsonBody(alert));
}
