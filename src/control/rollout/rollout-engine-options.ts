/**
 * The options of a rollout engine, shared by the engine (rollout-engine.ts), which applies their
 * defaults, and its steps (rollout-steps.ts), which act through them.
 */
import type { Logger } from "../../log.ts";
import type { EventBus, KvStore } from "../../transport/types.ts";
import type { AdminOperations } from "../admin/admin-operations.ts";
import type { Fleet } from "../fleet/fleet.ts";
import type { MetricsSource } from "../metrics/metrics-service.ts";

/** Pre-warms `variant` of `route` on its nodes; rejects when it cannot be loaded. */
export type WarmVariant = (route: string, variant: string, signal: AbortSignal) => Promise<void>;

/** Options of `createRolloutEngine`. */
export interface RolloutEngineOptions {
  /** The store holding rollouts, leases and the audit log (the control plane's KvStore). */
  store: KvStore;
  /** The admin operations that write weights and switch the default variant. */
  admin: Pick<AdminOperations, "getRoute" | "setWeights" | "switchModel">;
  /** Live metrics windows per route and variant (the control plane's aggregator). Default: none (every evaluation lacks samples). */
  metrics?: MetricsSource;
  /** Resolves once the metrics windows are rebuilt after a restart; evaluations wait for it. Default: at once. */
  rebuilt?: () => Promise<void>;
  /** The fleet: each step waits until every live proxy serves its snapshot. Default: none (no wait). */
  fleet?: Fleet;
  /** Bus for RolloutEvents on `SUBJECTS.rolloutEvents`. Default: none. */
  bus?: EventBus;
  logger: Logger;
  /** This control plane's lease owner id. Default `<host>-<pid>-<random>`. */
  owner?: string;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Pre-warms the canary before the first step. Default: resolves at once. */
  warm?: WarmVariant;
  /** Lease time-to-live in ms (renewed every third of it). Default 10000. */
  leaseMs?: number;
  /** How often the store is scanned for rollouts nobody drives, in ms. Default 1000. */
  scanMs?: number;
}
