/**
 * One node's health as this proxy sees it: active probes (`GET /api/ps` every interval, which also
 * tells which models are resident) and passive outlier ejection from the answers of real requests.
 * The hot path only reads fields (`available`, `resident`) and calls `onSuccess`/`onFailure`,
 * which are a few comparisons unless a state changes. Every change of `available` is reported to
 * the listener (the proxy publishes it as NodeHealthChanged).
 *
 * Transitions: a node leaves rotation when `consecutiveFailures` requests fail in a row (ejected
 * for base·2^(n-1), capped) or when `unhealthyThreshold` probes fail in a row; it returns when the
 * ejection time has passed and its probes pass. An ejection caused by connection failures (refused,
 * reset, timed out — what a probe can observe) also ends early once `healthyThreshold` probes pass
 * after it; one caused by error answers (5xx, fast 503s) waits out its time, since /api/ps answering
 * says nothing about inference.
 */
import type { Pool } from "undici";
import { DEFAULT_RESILIENCE, type ResilienceSettings } from "./resilience-settings.ts";

/** A change of a node's availability. */
export interface NodeHealthChange {
  /** Node id (of the newest snapshot that uses the node). */
  node: string;
  baseUrl: string;
  /** True: back in rotation; false: taken out. */
  healthy: boolean;
  reason: string;
}

/** Receives every availability change. */
export type NodeHealthListener = (change: NodeHealthChange) => void;

function probeTick(health: NodeHealth): void {
  health.timer = undefined;
  void health.probe();
}

function ejectionOver(health: NodeHealth): void {
  health.readmit("ejection time elapsed");
}

/** Health state of one upstream node; lives as long as its pool. */
export class NodeHealth {
  /** In rotation: not ejected and not failing its probes. Read by node choice. */
  available = true;
  /** `performance.now()` until which the node is ejected; 0 = not ejected. */
  ejectedUntil = 0;
  /** The active checks pass (or are off). */
  activeHealthy = true;
  /** Consecutive failed requests. */
  failures = 0;
  /** Ejections in a row (drives the growing ejection time); forgotten after max_ejection in service. */
  ejections = 0;
  /** Every ejection since the pool was created (the Prometheus counter). */
  ejectionsTotal = 0;
  /** Models resident on the node per the last passing probe; null = unknown. */
  resident: ReadonlySet<string> | null = null;
  /** Node id reported in changes. */
  nodeId = "";
  /** The pending probe timer (internal). */
  timer: NodeJS.Timeout | undefined;
  private readonly baseUrl: string;
  private readonly pool: Pool;
  private readonly probePath: string;
  private settings: ResilienceSettings = DEFAULT_RESILIENCE;
  private listener: NodeHealthListener | undefined;
  private lastEjectedAt = 0;
  private ejectedByConnection = false;
  private ejectTimer: NodeJS.Timeout | undefined;
  private probePasses = 0;
  private probeFailures = 0;
  private probing = false;
  private stopped = false;
  private probeInterval = 0;

  constructor(baseUrl: string, pool: Pool, prefix: string) {
    this.baseUrl = baseUrl;
    this.pool = pool;
    this.probePath = `${prefix}/api/ps`;
  }

  /** Applies the newest snapshot's settings and node id; starts, restarts or stops the probes. */
  configure(settings: ResilienceSettings, nodeId: string, listener: NodeHealthListener | undefined): void {
    if (this.stopped) return;
    this.settings = settings;
    this.nodeId = nodeId;
    this.listener = listener;
    const hc = settings.healthCheck;
    if (!hc.enabled) {
      this.clearProbeTimer();
      this.probeInterval = 0;
      if (!this.activeHealthy) {
        this.activeHealthy = true;
        this.update("active health checks turned off");
      }
      return;
    }
    if (this.probeInterval === hc.intervalMs) return;
    this.probeInterval = hc.intervalMs;
    this.clearProbeTimer();
    // The first probe at once: it tells which models are resident.
    this.timer = setTimeout(probeTick, 0, this);
    this.timer.unref();
  }

  /** A request on the node succeeded (or failed for reasons that are not the node's). */
  onSuccess(): void {
    if (this.failures !== 0) this.failures = 0;
    if (
      this.ejections !== 0 &&
      this.ejectedUntil === 0 &&
      performance.now() - this.lastEjectedAt > this.settings.outlier.maxEjectionMs
    )
      this.ejections = 0;
  }

  /**
   * A request on the node failed: `reason` says how; `connection` is true for connection-level
   * failures (refused, reset, connect timeout).
   */
  onFailure(reason: string, connection: boolean): void {
    const o = this.settings.outlier;
    if (!o.enabled || this.stopped) return;
    this.failures++;
    if (this.failures < o.consecutiveFailures || this.ejectedUntil !== 0) return;
    const ms = Math.min(o.baseEjectionMs * 2 ** Math.min(this.ejections, 30), o.maxEjectionMs);
    const count = this.failures;
    this.failures = 0;
    this.ejections++;
    this.ejectionsTotal++;
    const now = performance.now();
    this.lastEjectedAt = now;
    this.ejectedUntil = now + ms;
    this.ejectedByConnection = connection;
    this.probePasses = 0;
    this.ejectTimer = setTimeout(ejectionOver, ms, this);
    this.ejectTimer.unref();
    this.update(`ejected for ${ms} ms after ${count} consecutive failures (last: ${reason})`);
  }

  /** Ends an ejection (its time passed, or probes show the node answers again). */
  readmit(reason: string): void {
    if (this.ejectTimer !== undefined) clearTimeout(this.ejectTimer);
    this.ejectTimer = undefined;
    if (this.ejectedUntil === 0) return;
    this.ejectedUntil = 0;
    this.update(reason);
  }

  /** Runs one probe and schedules the next (internal; called by the timer). */
  async probe(): Promise<void> {
    if (this.probing || this.stopped) return;
    this.probing = true;
    const t = this.settings.healthCheck.timeoutMs;
    let failure = "";
    let resident: Set<string> | null = null;
    try {
      const res = await this.pool.request({
        path: this.probePath,
        method: "GET",
        headersTimeout: t,
        bodyTimeout: t,
        signal: AbortSignal.timeout(t),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) failure = `GET /api/ps answered ${res.statusCode}`;
      else resident = residentModels(text);
    } catch (err) {
      const e = err as { code?: string; name?: string; message?: string };
      failure = e.name === "TimeoutError" ? `no answer within ${t} ms` : e.code || e.message || String(err);
    }
    this.probing = false;
    if (this.stopped) return;
    if (failure === "") this.probePassed(resident);
    else this.probeFailed(failure);
    if (this.settings.healthCheck.enabled && this.timer === undefined) {
      this.timer = setTimeout(probeTick, this.settings.healthCheck.intervalMs, this);
      this.timer.unref();
    }
  }

  /** Stops probing and timers for good (the pool is closing). */
  stop(): void {
    this.stopped = true;
    this.clearProbeTimer();
    if (this.ejectTimer !== undefined) clearTimeout(this.ejectTimer);
    this.ejectTimer = undefined;
  }

  private probePassed(resident: Set<string> | null): void {
    this.resident = resident;
    this.probeFailures = 0;
    this.probePasses++;
    const hc = this.settings.healthCheck;
    if (this.probePasses < hc.healthyThreshold) return;
    if (this.ejectedUntil !== 0 && this.ejectedByConnection)
      this.readmit("active health check passed after a connection-failure ejection");
    if (!this.activeHealthy) {
      this.activeHealthy = true;
      this.update(`active health check passed ${this.probePasses} times`);
    }
  }

  private probeFailed(why: string): void {
    this.resident = null;
    this.probePasses = 0;
    this.probeFailures++;
    if (!this.activeHealthy || this.probeFailures < this.settings.healthCheck.unhealthyThreshold) return;
    this.activeHealthy = false;
    this.update(`active health check failed ${this.probeFailures} times (last: ${why})`);
  }

  private update(reason: string): void {
    const available = this.activeHealthy && this.ejectedUntil === 0;
    if (available === this.available) return;
    this.available = available;
    try {
      this.listener?.({ node: this.nodeId, baseUrl: this.baseUrl, healthy: available, reason });
    } catch {
      // A listener must not break the proxy.
    }
  }

  private clearProbeTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Model names (`name` and `model`) listed by an /api/ps answer; null when it is not one. */
function residentModels(text: string): Set<string> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const models = (parsed as { models?: unknown } | null)?.models;
  if (!Array.isArray(models)) return null;
  const out = new Set<string>();
  for (const m of models) {
    if (m === null || typeof m !== "object") continue;
    const { name, model } = m as { name?: unknown; model?: unknown };
    if (typeof name === "string") out.add(name);
    if (typeof model === "string") out.add(model);
  }
  return out;
}
