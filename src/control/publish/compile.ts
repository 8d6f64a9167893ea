/**
 * Compile: the stored state (nodes, routes, settings, experiments, keys) plus the previous
 * snapshot in, the next immutable RoutingSnapshot out. Pure (the clock is a parameter). Running
 * experiments are compiled into snapshot form, the paused, stopped and concluded ones into their
 * feedback form (experiment-snapshots.ts), keys neither revoked nor
 * expired at `now` into theirs (key-snapshots.ts), nodes are sorted by id, routes by name and keys
 * by id, settings get their defaults, and the snapshot carries version = previous + 1, its parent
 * and content hash.
 */
import { clone, create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  ExperimentSnapshotSchema,
  FeedbackExperimentSnapshotSchema,
  KeySnapshotSchema,
  NodeSchema,
  RouteSchema,
  RoutingSnapshotSchema,
  type RoutingSnapshot,
} from "../../../gen/turnout/v1/routing_pb.js";
import type { FieldViolation } from "../../errors.ts";
import { checkSnapshot } from "../../snapshot/check.ts";
import { snapshotContentHash } from "../../snapshot/content-hash.ts";
import { DEFAULT_FEEDBACK_REF_TTL_MS } from "../../snapshot/feedback-rules.ts";
import { withDefaultSettings, type DesiredState } from "../state/desired-state.ts";
import type { StoredState } from "../state/state-store.ts";
import { experimentSnapshots, feedbackExperimentSnapshots } from "./experiment-snapshots.ts";
import { keyExpired, keySnapshots } from "./key-snapshots.ts";

function byKey<T>(key: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}

/**
 * The desired state of a stored state: its objects without revisions, running experiments and
 * keys that are not revoked in snapshot form.
 */
export function desiredOf(state: StoredState): DesiredState {
  return {
    nodes: state.nodes.map((n) => n.value),
    routes: state.routes.map((r) => r.value),
    settings: state.settings?.value,
    experiments: experimentSnapshots(state.experiments.map((e) => e.value)),
    feedbackExperiments: feedbackExperimentSnapshots(state.experiments.map((e) => e.value)),
    keys: keySnapshots((state.keys ?? []).map((k) => k.value)),
  };
}

/** A snapshot of `state` in the given order (no sorting), with its content hash. */
function assemble(state: DesiredState, version: bigint, parentVersion: bigint, createdAt: Date | undefined): RoutingSnapshot {
  const snapshot = create(RoutingSnapshotSchema, {
    version,
    parentVersion,
    createdAt: createdAt === undefined ? undefined : timestampFromDate(createdAt),
    nodes: state.nodes.map((n) => clone(NodeSchema, n)),
    routes: state.routes.map((r) => clone(RouteSchema, r)),
    settings: withDefaultSettings(state.settings),
    experiments: (state.experiments ?? []).map((e) => clone(ExperimentSnapshotSchema, e)),
    keys: (state.keys ?? []).map((k) => clone(KeySnapshotSchema, k)),
    feedbackExperiments: (state.feedbackExperiments ?? []).map((e) => clone(FeedbackExperimentSnapshotSchema, e)),
  });
  snapshot.contentHash = snapshotContentHash(snapshot);
  return snapshot;
}

/**
 * The snapshot that follows `previous` (undefined for the first) for `state`: version
 * previous.version + 1 (1 for the first), parent_version previous.version (0), nodes sorted by id,
 * routes by name, keys by id (those expired at `now` left out), stopped and concluded experiments
 * kept for feedback only while they ended less than the ref TTL before `now`, default settings
 * filled in, content hash, created_at `now`.
 */
export function compileSnapshot(
  state: DesiredState,
  previous: RoutingSnapshot | undefined,
  now: Date = new Date(),
): RoutingSnapshot {
  const parent = previous?.version ?? 0n;
  const ttlMs = state.settings?.feedbackRefTtlMs || DEFAULT_FEEDBACK_REF_TTL_MS;
  const sorted: DesiredState = {
    nodes: [...state.nodes].sort(byKey((n) => n.id)),
    routes: [...state.routes].sort(byKey((r) => r.name)),
    settings: state.settings,
    experiments: state.experiments && [...state.experiments].sort(byKey((e) => e.id)),
    keys: state.keys?.filter((k) => !keyExpired(k, now.getTime())).sort(byKey((k) => k.id)),
    feedbackExperiments: state.feedbackExperiments
      ?.filter((e) => e.endedAt === undefined || timestampMs(e.endedAt) + ttlMs > now.getTime())
      .sort(byKey((e) => e.id)),
  };
  return assemble(sorted, parent + 1n, parent, now);
}

/**
 * Every consistency problem of `state` as a whole (the snapshot check run over it), with paths
 * indexing `state.nodes` and `state.routes` in the order given (`routes[2].variants[0].nodes[1]`:
 * `node "gpu-9" does not exist`). Empty when a snapshot of it would be consistent.
 */
export function checkDesiredState(state: DesiredState): FieldViolation[] {
  return checkSnapshot(assemble(state, 1n, 0n, undefined));
}
