/**
 * The upstream resilience blocks of a config file, shared by the native format (`settings.
 * health_check`, `settings.outlier_detection`, `settings.queue`, `settings.total_timeout`) and the
 * seed article's top-level `health_check: { interval, timeout }`. Each block maps onto its
 * Settings message; absent keys stay 0 (the proxy's defaults), `enabled: false` turns it off.
 */
import { create } from "@bufbuild/protobuf";
import {
  HealthCheckSchema,
  OutlierDetectionSchema,
  SlotQueueSchema,
  type HealthCheck,
  type OutlierDetection,
  type SlotQueue,
} from "../../../gen/turnout/v1/routing_pb.js";
import { type Problems, at, readBool, readDuration, readInt, readMap } from "./config-reader.ts";

const COUNT_MAX = 1000;

/** Keys of a `health_check` block. */
const HEALTH_CHECK_KEYS = ["enabled", "interval", "timeout", "healthy_threshold", "unhealthy_threshold"] as const;

/** A `health_check` block (`{ interval: 30s, timeout: 5s, … }`), or undefined when absent. */
export function readHealthCheck(value: unknown, path: string, p: Problems): HealthCheck | undefined {
  const m = readMap(value, path, p, HEALTH_CHECK_KEYS);
  if (m === undefined) return undefined;
  return create(HealthCheckSchema, {
    disabled: readBool(m.enabled, at(path, "enabled"), p) === false,
    intervalMs: readDuration(m.interval, at(path, "interval"), p) ?? 0,
    timeoutMs: readDuration(m.timeout, at(path, "timeout"), p) ?? 0,
    healthyThreshold: readInt(m.healthy_threshold, at(path, "healthy_threshold"), p, 1, COUNT_MAX) ?? 0,
    unhealthyThreshold: readInt(m.unhealthy_threshold, at(path, "unhealthy_threshold"), p, 1, COUNT_MAX) ?? 0,
  });
}

/** An `outlier_detection` block, or undefined when absent. */
export function readOutlierDetection(value: unknown, path: string, p: Problems): OutlierDetection | undefined {
  const m = readMap(value, path, p, ["enabled", "consecutive_failures", "base_ejection", "max_ejection", "fast_503"]);
  if (m === undefined) return undefined;
  return create(OutlierDetectionSchema, {
    disabled: readBool(m.enabled, at(path, "enabled"), p) === false,
    consecutiveFailures: readInt(m.consecutive_failures, at(path, "consecutive_failures"), p, 1, COUNT_MAX) ?? 0,
    baseEjectionMs: readDuration(m.base_ejection, at(path, "base_ejection"), p) ?? 0,
    maxEjectionMs: readDuration(m.max_ejection, at(path, "max_ejection"), p) ?? 0,
    fast503Ms: readDuration(m.fast_503, at(path, "fast_503"), p) ?? 0,
  });
}

/** A `queue` block, or undefined when absent. */
export function readSlotQueue(value: unknown, path: string, p: Problems): SlotQueue | undefined {
  const m = readMap(value, path, p, ["enabled", "max_wait", "max_length"]);
  if (m === undefined) return undefined;
  return create(SlotQueueSchema, {
    disabled: readBool(m.enabled, at(path, "enabled"), p) === false,
    maxWaitMs: readDuration(m.max_wait, at(path, "max_wait"), p) ?? 0,
    maxLength: readInt(m.max_length, at(path, "max_length"), p, 1, 1_000_000) ?? 0,
  });
}
