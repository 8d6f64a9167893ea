/**
 * The alert model: what happened (a kind), a one-line title, a sentence of text, when, and the
 * details as flat name → value fields. Formatters turn an Alert into a webhook body (generic JSON,
 * Slack); decoders build Alerts from the bus's event payloads.
 */

/** Alert kinds, as an `as const` object with a derived union type. */
export const AlertKind = {
  /** A rollout was rolled back (RolloutEvent kind "rolled_back"). */
  Rollback: "rollback",
  /** A rollout gate failed (RolloutEvent kind "gate_failed"); opt-in, a rollback usually follows. */
  GateFailed: "gate_failed",
  /** A node went down (NodeHealthChanged healthy=false), once per node state change. */
  NodeDown: "node_down",
  /** A node came back (NodeHealthChanged healthy=true) after a node_down. */
  NodeUp: "node_up",
  /** A proxy rejected a snapshot (ProxyStatus state APPLY_STATE_NACK). */
  ProxyNack: "proxy_nack",
} as const;
export type AlertKind = (typeof AlertKind)[keyof typeof AlertKind];

/** Every kind, in documentation order. */
export const ALERT_KINDS: readonly AlertKind[] = Object.values(AlertKind);

/** Kinds a webhook gets when its config names none: every kind but `gate_failed`. */
export const DEFAULT_ALERT_KINDS: readonly AlertKind[] = [
  AlertKind.Rollback,
  AlertKind.NodeDown,
  AlertKind.NodeUp,
  AlertKind.ProxyNack,
];

/** True when `value` names an alert kind. */
export function isAlertKind(value: string): value is AlertKind {
  return (ALERT_KINDS as readonly string[]).includes(value);
}

/** Severity, for formatters that colour or prefix. */
export type AlertSeverity = "critical" | "warning" | "info";

/** Severity of each kind. */
export const ALERT_SEVERITY: Readonly<Record<AlertKind, AlertSeverity>> = {
  rollback: "critical",
  gate_failed: "warning",
  node_down: "critical",
  node_up: "info",
  proxy_nack: "warning",
};

/** One alert. */
export interface Alert {
  /** What happened. */
  readonly kind: AlertKind;
  /** One line, e.g. `Node gpu-2 is down`. */
  readonly title: string;
  /** A sentence or two with the reason. */
  readonly text: string;
  /** When it happened, RFC 3339 (the event's own time when it has one, else when it was seen). */
  readonly at: string;
  /**
   * The event's fields (proxy, node, route, version, reason, …): strings, numbers or booleans,
   * in a stable order. Keys are camelCase, as in the event's JSON.
   */
  readonly details: Readonly<Record<string, string | number | boolean>>;
}
