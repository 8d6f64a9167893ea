/**
 * The check of the proxy-wide settings (part of `checkSnapshot`, and the whole of the admin and
 * config validation of settings): the unit header is a header name, the resilience blocks
 * (health_check, outlier_detection, queue) hold together, and client_keep_alive names a policy.
 * 0 (or "") means "the default" everywhere.
 */
import type { Settings } from "../../gen/turnout/v1/routing_pb.js";
import type { FieldViolation } from "../errors.ts";

/** Shortest active health check interval, ms. */
const MIN_HEALTH_INTERVAL_MS = 50;
const MAX_COUNT = 1000;
/** An HTTP header name token. */
const HEADER_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** The values of `client_keep_alive` ("" is the default, ignore). */
const CLIENT_KEEP_ALIVE = ["", "ignore", "clamp", "pass"];

/** Problems with the resilience settings, with proto field names under `path`. */
function resilienceProblems(s: Settings, path: string): FieldViolation[] {
  const out: FieldViolation[] = [];
  const h = s.healthCheck;
  if (h !== undefined) {
    const hp = `${path}.health_check`;
    if (h.intervalMs !== 0 && h.intervalMs < MIN_HEALTH_INTERVAL_MS)
      out.push({ field: `${hp}.interval_ms`, message: `must be at least ${MIN_HEALTH_INTERVAL_MS} ms, got ${h.intervalMs}` });
    if (h.intervalMs !== 0 && h.timeoutMs > h.intervalMs)
      out.push({ field: `${hp}.timeout_ms`, message: `must not exceed the interval (${h.timeoutMs} > ${h.intervalMs})` });
    if (h.healthyThreshold > MAX_COUNT)
      out.push({ field: `${hp}.healthy_threshold`, message: `must be at most ${MAX_COUNT}, got ${h.healthyThreshold}` });
    if (h.unhealthyThreshold > MAX_COUNT)
      out.push({ field: `${hp}.unhealthy_threshold`, message: `must be at most ${MAX_COUNT}, got ${h.unhealthyThreshold}` });
  }
  const o = s.outlierDetection;
  if (o !== undefined) {
    const op = `${path}.outlier_detection`;
    if (o.consecutiveFailures > MAX_COUNT)
      out.push({ field: `${op}.consecutive_failures`, message: `must be at most ${MAX_COUNT}, got ${o.consecutiveFailures}` });
    if (o.baseEjectionMs !== 0 && o.maxEjectionMs !== 0 && o.maxEjectionMs < o.baseEjectionMs) {
      out.push({
        field: `${op}.max_ejection_ms`,
        message: `must not be less than base_ejection_ms (${o.maxEjectionMs} < ${o.baseEjectionMs})`,
      });
    }
  }
  const q = s.queue;
  if (q !== undefined && q.maxLength > 1_000_000)
    out.push({ field: `${path}.queue.max_length`, message: `must be at most 1000000, got ${q.maxLength}` });
  return out;
}

/** Every problem with `settings`; `path` prefixes each field. Default path "settings". */
export function checkSettings(settings: Settings, path = "settings"): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (settings.unitHeader !== "" && !HEADER_PATTERN.test(settings.unitHeader)) {
    out.push({ field: `${path}.unit_header`, message: `${JSON.stringify(settings.unitHeader)} is not a valid header name` });
  }
  if (!CLIENT_KEEP_ALIVE.includes(settings.clientKeepAlive)) {
    out.push({
      field: `${path}.client_keep_alive`,
      message: `must be "ignore", "clamp" or "pass", got ${JSON.stringify(settings.clientKeepAlive)}`,
    });
  }
  out.push(...resilienceProblems(settings, path));
  return out;
}
