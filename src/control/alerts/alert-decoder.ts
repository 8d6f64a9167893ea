/**
 * Decodes the bus's event payloads (JSON forms of turnout.v1 messages) into alerts, defensively:
 * plain objects with field checks, not the generated types, so a producer's newer or older shape,
 * or garbage, yields `undefined` (skipped and counted) instead of a throw.
 *
 * Decoders answer "ignored" for a well-formed event that is not an alert (an ACK, a rollout step)
 * and "malformed" for a payload without the fields they need.
 *
 * - `ProxyStatus` on `turnout.events.proxy` → `proxy_nack` when `state` is "APPLY_STATE_NACK".
 * - `NodeHealthChanged` on `turnout.events.node` → a {@link NodeHealthEvent}; node-dedupe.ts
 *   decides which become `node_down` / `node_up` alerts.
 * - `RolloutEvent` on `turnout.events.rollout` → `rollback` for kind "rolled_back", `gate_failed`
 *   for kind "gate_failed"; other kinds are not alerts.
 *
 * The payloads are proto3 JSON (`toJsonString`), which leaves fields at their default out unless
 * the producer asks otherwise: an absent `healthy` is false, an absent number is 0. A RolloutEvent's
 * `canaryPercent` is the percent *after* the decision (0 for "rolled_back"); the percent the canary
 * had when its gate failed is the evaluation's (`evaluation.canaryPercent`, GateReport), and that
 * is the one an alert reports as `canaryPercent`.
 */
import { SUBJECTS } from "../../transport/types.ts";
import { AlertKind, type Alert } from "./alert.ts";

/** Subjects the alerts stage listens on. */
export const ALERT_SUBJECTS = {
  /** ProxyStatus for every ACK/NACK. */
  proxy: SUBJECTS.proxyApplied,
  /** NodeHealthChanged: one proxy's view of one node changed. */
  node: SUBJECTS.nodeHealth,
  /** RolloutEvent: a rollout step, gate result or decision. */
  rollout: SUBJECTS.rolloutEvents,
} as const;

/** What a decoder answers for a payload that is not an alert. */
export type NotAlert = "ignored" | "malformed";

/** Longest text kept from an event's free-form fields (errors, reasons). */
const MAX_FIELD_CHARS = 1000;

const decoder = new TextDecoder();

/** The JSON object in `data`, or undefined. */
function object(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(decoder.decode(data));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function clip(text: string): string {
  return text.length > MAX_FIELD_CHARS ? `${text.slice(0, MAX_FIELD_CHARS - 1)}…` : text;
}

/** A uint64 / number field (proto JSON writes 64-bit integers as strings; absent means 0). */
function uint(value: unknown): number | undefined {
  if (value === undefined) return 0;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** An RFC 3339 time when `value` is one, else the time `now`. */
function time(value: unknown, now: number): string {
  const text = str(value);
  if (text !== undefined && /^\d{4}-\d\d-\d\dT/.test(text) && !Number.isNaN(Date.parse(text))) return text;
  return new Date(now).toISOString();
}

/** A `proxy_nack` alert for a ProxyStatus NACK. */
export function decodeProxyNack(data: Uint8Array, now: number): Alert | NotAlert {
  const m = object(data);
  if (m === undefined) return "malformed";
  if (m.state !== "APPLY_STATE_NACK") return typeof m.id === "string" ? "ignored" : "malformed";
  const proxy = str(m.id);
  const version = uint(m.version);
  const applied = uint(m.appliedVersion);
  if (!proxy || version === undefined || applied === undefined) return "malformed";
  const error = clip(str(m.error) ?? "") || "no reason given";
  const details: Record<string, string | number> = { proxy, version, appliedVersion: applied, error };
  const host = str(m.host);
  if (host) details.host = host;
  return {
    kind: AlertKind.ProxyNack,
    title: `Proxy ${proxy} rejected snapshot ${version}`,
    text: `Proxy ${proxy} rejected snapshot ${version} and keeps serving snapshot ${applied}: ${error}`,
    at: time(m.heartbeatAt, now),
    details,
  };
}

/** One proxy's view of one node, from a NodeHealthChanged payload. */
export interface NodeHealthEvent {
  /** Proxy that reports. */
  readonly proxy: string;
  /** Node id. */
  readonly node: string;
  /** The node's base URL ("" when not given). */
  readonly baseUrl: string;
  /** The node's state in this proxy's view. */
  readonly healthy: boolean;
  /** Why ("" when not given). */
  readonly reason: string;
  /** When the proxy saw the change, RFC 3339. */
  readonly at: string;
}

/**
 * The NodeHealthChanged in `data`; "malformed" when it lacks `node` or has a `healthy` that is not a
 * boolean (absent is proto3 JSON's false).
 */
export function decodeNodeHealth(data: Uint8Array, now: number): NodeHealthEvent | "malformed" {
  const m = object(data);
  const node = str(m?.node);
  const healthy = m?.healthy ?? false;
  if (m === undefined || !node || typeof healthy !== "boolean") return "malformed";
  return {
    proxy: str(m.proxy) ?? "",
    node,
    baseUrl: str(m.baseUrl) ?? "",
    healthy,
    reason: clip(str(m.reason) ?? ""),
    at: time(m.at, now),
  };
}

/** The `node_down` / `node_up` alert for a node event the dedupe let through. */
export function nodeAlert(event: NodeHealthEvent): Alert {
  const where = event.baseUrl ? ` (${event.baseUrl})` : "";
  const seen = event.proxy ? ` as seen by proxy ${event.proxy}` : "";
  const because = event.reason ? `: ${event.reason}` : "";
  const details: Record<string, string> = { node: event.node };
  if (event.baseUrl) details.baseUrl = event.baseUrl;
  if (event.proxy) details.proxy = event.proxy;
  if (event.reason) details.reason = event.reason;
  return event.healthy
    ? {
        kind: AlertKind.NodeUp,
        title: `Node ${event.node} is back`,
        text: `Node ${event.node}${where} is healthy again${seen}${because}`,
        at: event.at,
        details,
      }
    : {
        kind: AlertKind.NodeDown,
        title: `Node ${event.node} is down`,
        text: `Node ${event.node}${where} is down${seen}${because}`,
        at: event.at,
        details,
      };
}

/** A whole number ≥ 1 (a uint32 in proto JSON, a number or a numeric string), else undefined. */
function positive(value: unknown): number | undefined {
  const n = uint(value);
  return n !== undefined && n > 0 && Number.isInteger(n) ? n : undefined;
}

/**
 * A `rollback` / `gate_failed` alert for a RolloutEvent; other kinds are "ignored". Its
 * `canaryPercent` is the evaluated step's (`evaluation.canaryPercent`), else — for a gate_failed
 * without an evaluation — the event's own; never the 0 a rollback leaves.
 */
export function decodeRolloutEvent(data: Uint8Array, now: number): Alert | NotAlert {
  const m = object(data);
  const route = str(m?.route);
  if (m === undefined || !route || typeof m.kind !== "string") return "malformed";
  const kind = m.kind === "rolled_back" ? AlertKind.Rollback : m.kind === "gate_failed" ? AlertKind.GateFailed : undefined;
  if (kind === undefined) return "ignored";
  const rolloutId = str(m.rolloutId) ?? "";
  const from = str(m.fromVariant) ?? "";
  const to = str(m.toVariant) ?? "";
  const reason = clip(str(m.reason) ?? "");
  const evaluation = typeof m.evaluation === "object" && m.evaluation !== null ? (m.evaluation as Record<string, unknown>) : {};
  const step = positive(evaluation.step) ?? positive(m.step);
  const percent = positive(evaluation.canaryPercent) ?? (kind === AlertKind.GateFailed ? positive(m.canaryPercent) : undefined);
  const details: Record<string, string | number> = { route };
  if (rolloutId) details.rolloutId = rolloutId;
  if (from) details.fromVariant = from;
  if (to) details.toVariant = to;
  if (step !== undefined) details.step = step;
  if (percent !== undefined) details.canaryPercent = percent;
  if (reason) details.reason = reason;
  const canary = to || "the canary";
  const at = percent !== undefined ? ` at ${percent}%` : "";
  const because = reason ? `: ${reason}` : "";
  return kind === AlertKind.Rollback
    ? {
        kind,
        title: `Rollout of ${route} rolled back`,
        text: `Route ${route} rolled back from ${canary}${at}${from ? ` to ${from}` : ""}${because}`,
        at: time(m.at, now),
        details,
      }
    : {
        kind,
        title: `Rollout gate failed on ${route}`,
        text: `Route ${route}: a gate failed for ${canary}${at}${because}`,
        at: time(m.at, now),
        details,
      };
}
