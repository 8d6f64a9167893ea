/**
 * The desired state: what operators asked for (nodes, routes, settings, keys), as stored by the
 * control plane and bootstrapped from a config file. `compileSnapshot` turns it into a
 * RoutingSnapshot.
 */
import { clone, create } from "@bufbuild/protobuf";
import {
  HealthCheckSchema,
  OutlierDetectionSchema,
  SettingsSchema,
  SlotQueueSchema,
  type ExperimentSnapshot,
  type FeedbackExperimentSnapshot,
  type KeySnapshot,
  type Node,
  type Route,
  type Settings,
} from "../../../gen/turnout/v1/routing_pb.js";

/** Everything a snapshot is compiled from. */
export interface DesiredState {
  /** Upstream nodes, in any order. */
  nodes: Node[];
  /** Routes, in any order; arms carry their bucket ranges (see `normalizeRoute`). */
  routes: Route[];
  /** Proxy-wide settings; unset fields (0 / "") take the defaults below. */
  settings?: Settings;
  /** Running experiments in snapshot form (see `publish/experiment-snapshots.ts`). Default: none. */
  experiments?: ExperimentSnapshot[];
  /** Paused, stopped and concluded experiments in their feedback form (same file). Default: none. */
  feedbackExperiments?: FeedbackExperimentSnapshot[];
  /** API keys in snapshot form (hashes only, see `publish/key-snapshots.ts`). Default: none. */
  keys?: KeySnapshot[];
}

/** Default assignment unit header. */
const DEFAULT_UNIT_HEADER = "x-turnout-user";
/** Default connect timeout to a node, ms. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Default wait for an upstream's first byte (covers cold model loads), ms. */
export const DEFAULT_FIRST_BYTE_TIMEOUT_MS = 300_000;
/** Default longest idle gap between two chunks of an upstream stream, ms. */
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/**
 * `settings` with every unset timeout and the unit header replaced by its default. The resilience
 * blocks (health_check, outlier_detection, queue, total_timeout_ms) are carried as given: the
 * proxy fills in their defaults (see src/proxy/upstream/resilience-settings.ts); so is
 * feedback_ref_ttl_ms (0: 7 days, src/snapshot/feedback-rules.ts).
 */
export function withDefaultSettings(settings: Settings | undefined): Settings {
  return create(SettingsSchema, {
    unitHeader: settings?.unitHeader || DEFAULT_UNIT_HEADER,
    connectTimeoutMs: settings?.connectTimeoutMs || DEFAULT_CONNECT_TIMEOUT_MS,
    firstByteTimeoutMs: settings?.firstByteTimeoutMs || DEFAULT_FIRST_BYTE_TIMEOUT_MS,
    idleTimeoutMs: settings?.idleTimeoutMs || DEFAULT_IDLE_TIMEOUT_MS,
    totalTimeoutMs: settings?.totalTimeoutMs ?? 0,
    healthCheck: settings?.healthCheck && clone(HealthCheckSchema, settings.healthCheck),
    outlierDetection: settings?.outlierDetection && clone(OutlierDetectionSchema, settings.outlierDetection),
    queue: settings?.queue && clone(SlotQueueSchema, settings.queue),
    clientKeepAlive: settings?.clientKeepAlive ?? "",
    feedbackRefTtlMs: settings?.feedbackRefTtlMs ?? 0,
  });
}
