/**
 * Publish: compile the stored desired state, check it, and write it at SNAPSHOT_KEY with CAS on
 * the key's revision. Identical content is a no-op (the current snapshot is answered); a lost race
 * (another writer published first) recompiles from fresh state and retries. The publisher keeps
 * the snapshot published or found last and tells its observers of each new one.
 */
import type { RoutingSnapshot } from "../../../gen/turnout/v1/routing_pb.js";
import { ErrorCode, TurnoutError, formatViolations } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { checkSnapshot } from "../../snapshot/check.ts";
import { compileSnapshot, desiredOf } from "./compile.ts";
import type { RouteSince, StateStore } from "../state/state-store.ts";

/** Options of {@link publishSnapshot}. */
export interface PublishOptions {
  /** Logs each published version. */
  logger?: Logger;
  /** Clock for created_at. Default `() => new Date()`. */
  now?: () => Date;
  /** Attempts when another writer publishes concurrently. Default 5. */
  attempts?: number;
}

/** What a publish did. */
export interface PublishResult {
  /** The snapshot published now (or the current one, for a no-op). */
  snapshot: RoutingSnapshot;
  /** False when the content was identical to the current snapshot's. */
  published: boolean;
}

/**
 * Records, per route, since which snapshot version its default variant has served it: kept while
 * the default stays the same, set to `snapshot.version` when it changed or the route is new.
 */
async function updateRouteSince(store: StateStore, snapshot: RoutingSnapshot): Promise<RouteSince> {
  const before = await store.readRouteSince();
  const after: RouteSince = {};
  for (const route of snapshot.routes) {
    const record = before[route.name];
    after[route.name] =
      record?.variant === route.defaultVariant ? record : { variant: route.defaultVariant, since: Number(snapshot.version) };
  }
  if (JSON.stringify(after) !== JSON.stringify(before)) await store.writeRouteSince(after);
  return after;
}

/** Compiles the stored state and publishes it unless it is identical to the current snapshot. */
async function publishSnapshot(store: StateStore, options: PublishOptions = {}): Promise<PublishResult> {
  const attempts = options.attempts ?? 5;
  const now = options.now ?? (() => new Date());
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const [state, current] = await Promise.all([store.readState(), store.readSnapshot()]);
    const next = compileSnapshot(desiredOf(state), current?.value, now());
    if (current !== undefined && current.value.contentHash === next.contentHash && checkSnapshot(current.value).length === 0) {
      await updateRouteSince(store, current.value);
      return { snapshot: current.value, published: false };
    }
    const problems = checkSnapshot(next);
    if (problems.length > 0) {
      const text = formatViolations(problems);
      throw new TurnoutError(
        ErrorCode.FailedPrecondition,
        `the stored state does not compile into a consistent snapshot: ${text}`,
        { violations: problems },
      );
    }
    try {
      await store.writeSnapshot(next, current?.revision ?? 0);
    } catch (err) {
      if (err instanceof TurnoutError && err.code === ErrorCode.Aborted && attempt < attempts) {
        options.logger?.debug({ attempt }, "snapshot publish raced another writer; recompiling");
        continue;
      }
      throw err;
    }
    await updateRouteSince(store, next);
    options.logger?.info({ version: Number(next.version), hash: next.contentHash.slice(0, 12) }, "published snapshot");
    return { snapshot: next, published: true };
  }
  throw new TurnoutError(ErrorCode.Aborted, `snapshot publish lost the race ${attempts} times`);
}

/** Options of {@link createSnapshotPublisher}. */
export interface SnapshotPublisherOptions extends Omit<PublishOptions, "attempts"> {
  /** The state store to compile from and publish into. */
  store: StateStore;
  /** Told of every snapshot published (never of a no-op). Default: none. */
  onPublished?: (snapshot: RoutingSnapshot) => void;
}

/** Publishes the stored state and remembers the current snapshot. */
export interface SnapshotPublisher {
  /** Runs {@link publishSnapshot}; callers serialise (see write-queue.ts). */
  publish(): Promise<PublishResult>;
  /** The snapshot published or found by the last publish; undefined before the first. */
  current(): RoutingSnapshot | undefined;
}

/** Creates a publisher over `options.store`. */
export function createSnapshotPublisher(options: SnapshotPublisherOptions): SnapshotPublisher {
  let current: RoutingSnapshot | undefined;
  return {
    async publish() {
      const result = await publishSnapshot(options.store, { logger: options.logger, now: options.now });
      current = result.snapshot;
      if (result.published) options.onPublished?.(result.snapshot);
      return result;
    },
    current: () => current,
  };
}
