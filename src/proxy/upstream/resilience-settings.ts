/**
 * Upstream resilience settings as the proxy uses them: active health checks, passive outlier
 * ejection, the bounded slot queue and the total request timeout, with every unset snapshot field
 * (0 / absent) replaced by its default. Pure.
 */
import type { Settings } from "../../../gen/turnout/v1/routing_pb.js";

/** Active health checks (GET /api/ps on each node). */
export interface HealthCheckSettings {
  /** Probes run. Default true. */
  readonly enabled: boolean;
  /** Time between two probes of a node, ms. Default 10000. */
  readonly intervalMs: number;
  /** Longest wait for a probe's answer, ms. Default 5000 (or the interval when shorter). */
  readonly timeoutMs: number;
  /** Consecutive passing probes that make an unhealthy node healthy. Default 2. */
  readonly healthyThreshold: number;
  /** Consecutive failing probes that make a healthy node unhealthy. Default 3. */
  readonly unhealthyThreshold: number;
}

/** Passive outlier ejection. */
export interface OutlierSettings {
  /** Nodes are ejected after failures. Default true. */
  readonly enabled: boolean;
  /** Consecutive failed requests that eject a node. Default 3. */
  readonly consecutiveFailures: number;
  /** First ejection time, ms; each repeat doubles it. Default 10000. */
  readonly baseEjectionMs: number;
  /** Longest ejection time, ms. Default 300000. */
  readonly maxEjectionMs: number;
  /** A 503 answered within this many ms counts as a failure. Default 5. */
  readonly fast503Ms: number;
}

/** The bounded wait for a slot when every node of a variant is full. */
export interface QueueSettings {
  /** Requests wait instead of getting the 503 at once. Default true. */
  readonly enabled: boolean;
  /** Longest wait, ms. Default 5000. */
  readonly maxWaitMs: number;
  /** Most waiting requests per variant. Default 256. */
  readonly maxLength: number;
}

/** Everything resilience-related, defaults applied. */
export interface ResilienceSettings {
  readonly healthCheck: HealthCheckSettings;
  readonly outlier: OutlierSettings;
  readonly queue: QueueSettings;
  /** Longest a whole request may take, ms; 0 = no limit (default). */
  readonly totalTimeoutMs: number;
}

/** The defaults. */
export const DEFAULT_RESILIENCE: ResilienceSettings = {
  healthCheck: { enabled: true, intervalMs: 10_000, timeoutMs: 5_000, healthyThreshold: 2, unhealthyThreshold: 3 },
  outlier: { enabled: true, consecutiveFailures: 3, baseEjectionMs: 10_000, maxEjectionMs: 300_000, fast503Ms: 5 },
  queue: { enabled: true, maxWaitMs: 5_000, maxLength: 256 },
  totalTimeoutMs: 0,
};

/** The resilience settings of a snapshot's `settings` (undefined = every default). */
export function resilienceSettings(s: Settings | undefined): ResilienceSettings {
  const d = DEFAULT_RESILIENCE;
  const h = s?.healthCheck;
  const o = s?.outlierDetection;
  const q = s?.queue;
  const baseEjectionMs = o?.baseEjectionMs || d.outlier.baseEjectionMs;
  const intervalMs = h?.intervalMs || d.healthCheck.intervalMs;
  return {
    healthCheck: {
      enabled: h?.disabled !== true,
      intervalMs,
      // An unset timeout never exceeds the interval.
      timeoutMs: h?.timeoutMs || Math.min(d.healthCheck.timeoutMs, intervalMs),
      healthyThreshold: h?.healthyThreshold || d.healthCheck.healthyThreshold,
      unhealthyThreshold: h?.unhealthyThreshold || d.healthCheck.unhealthyThreshold,
    },
    outlier: {
      enabled: o?.disabled !== true,
      consecutiveFailures: o?.consecutiveFailures || d.outlier.consecutiveFailures,
      baseEjectionMs,
      maxEjectionMs: Math.max(baseEjectionMs, o?.maxEjectionMs || d.outlier.maxEjectionMs),
      fast503Ms: o?.fast503Ms || d.outlier.fast503Ms,
    },
    queue: {
      enabled: q?.disabled !== true,
      maxWaitMs: q?.maxWaitMs || d.queue.maxWaitMs,
      maxLength: q?.maxLength || d.queue.maxLength,
    },
    totalTimeoutMs: s?.totalTimeoutMs ?? 0,
  };
}
