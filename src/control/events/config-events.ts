/**
 * Config events for subscribers: accepted admin changes and new snapshots in, the JSON form of
 * `turnout.v1.ConfigChanged` on `SUBJECTS.configChanged` and of `turnout.v1.SnapshotPublished` on
 * `SUBJECTS.snapshotPublished` out, so any NATS client in any language can follow along. Fire and
 * forget: a bus that is down drops the event (the change itself is stored).
 */
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ConfigChangedSchema, SnapshotPublishedSchema } from "../../../gen/turnout/v1/events_pb.js";
import type { RoutingSnapshot } from "../../../gen/turnout/v1/routing_pb.js";
import type { Logger } from "../../log.ts";
import { SUBJECTS, type EventBus } from "../../transport/types.ts";

/** One accepted admin change. */
export interface ConfigChange {
  /** What changed. */
  kind: "node" | "route" | "settings" | "key";
  /** Node id, route name or key id ("" for settings). */
  name: string;
  /** The admin operation. */
  action: "put" | "delete" | "switch" | "weights" | "create" | "revoke";
  /** Store revision of the object after the change (0 for a delete). */
  revision: number;
  /** Version of the snapshot that carries the change. */
  snapshotVersion: number;
  /** Key id of the caller that made it (see control/auth/actor.ts). */
  keyId: string;
}

/** Options of {@link createConfigEvents}. */
export interface ConfigEventsOptions {
  /** Bus the events go to. */
  bus: EventBus;
  logger: Logger;
  /** Clock for ConfigChanged.at. Default `() => new Date()`. */
  now?: () => Date;
}

/** Publishes config events. */
export interface ConfigEvents {
  /** Publishes ConfigChanged for an accepted change (never for a no-op write). */
  configChanged(change: ConfigChange): void;
  /** Publishes SnapshotPublished for a snapshot just written (never for an identical republish). */
  snapshotPublished(snapshot: RoutingSnapshot): void;
}

const encoder = new TextEncoder();

/** Creates the config event publisher over `options.bus`. */
export function createConfigEvents(options: ConfigEventsOptions): ConfigEvents {
  const { bus } = options;
  const log = options.logger.child({ component: "config-events" });
  const now = options.now ?? (() => new Date());

  function send(subject: string, json: string): void {
    try {
      bus.publish(subject, encoder.encode(json));
    } catch (err) {
      log.warn({ err, subject }, "config event not published");
    }
  }

  return {
    configChanged(change) {
      const message = create(ConfigChangedSchema, {
        kind: change.kind,
        name: change.name,
        action: change.action,
        revision: BigInt(change.revision),
        snapshotVersion: BigInt(change.snapshotVersion),
        at: timestampFromDate(now()),
        keyId: change.keyId,
      });
      send(SUBJECTS.configChanged, toJsonString(ConfigChangedSchema, message));
    },
    snapshotPublished(snapshot) {
      const message = create(SnapshotPublishedSchema, {
        version: snapshot.version,
        parentVersion: snapshot.parentVersion,
        contentHash: snapshot.contentHash,
        createdAt: snapshot.createdAt,
      });
      send(SUBJECTS.snapshotPublished, toJsonString(SnapshotPublishedSchema, message));
    },
  };
}
