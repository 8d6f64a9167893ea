/**
 * Node health events: every change of this proxy's view of a node (taken out of rotation, back in)
 * in, a log line and the JSON form of `turnout.v1.NodeHealthChanged` on `SUBJECTS.nodeHealth` out
 * (when a bus is given; every field present, `"healthy": false` included), so alerting and any NATS client can follow nodes going down and coming
 * back. Fire and forget: a bus that is down drops the event.
 */
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { NodeHealthChangedSchema } from "../../../gen/turnout/v1/events_pb.js";
import type { Logger } from "../../log.ts";
import { SUBJECTS, type EventBus } from "../../transport/types.ts";
import type { NodeHealthChange, NodeHealthListener } from "../upstream/node-health.ts";

/** Options of {@link createNodeHealthReporter}. */
export interface NodeHealthReporterOptions {
  /** Proxy id put in each event. */
  proxyId: string;
  logger: Logger;
  /** Bus the events go to. Default: none (changes are only logged). */
  bus?: EventBus;
  /** Clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Also receives every change (tests). Default: none. */
  onChange?: NodeHealthListener;
}

const encoder = new TextEncoder();

/** The listener to give the routing tables' upstreams. */
export function createNodeHealthReporter(options: NodeHealthReporterOptions): NodeHealthListener {
  const log = options.logger.child({ component: "node-health" });
  const now = options.now ?? Date.now;
  const { bus, proxyId } = options;
  return (change: NodeHealthChange) => {
    const fields = { node: change.node, baseUrl: change.baseUrl, reason: change.reason };
    if (change.healthy) log.info(fields, "node back in rotation");
    else log.warn(fields, "node taken out of rotation");
    if (bus !== undefined) {
      try {
        const message = create(NodeHealthChangedSchema, {
          proxy: proxyId,
          node: change.node,
          baseUrl: change.baseUrl,
          healthy: change.healthy,
          reason: change.reason,
          at: timestampFromMs(now()),
        });
        // Every field, `healthy: false` included: consumers should not need proto3's implicit defaults.
        bus.publish(
          SUBJECTS.nodeHealth,
          encoder.encode(toJsonString(NodeHealthChangedSchema, message, { alwaysEmitImplicit: true })),
        );
      } catch (err) {
        log.warn({ err }, "node health event not published");
      }
    }
    options.onChange?.(change);
  };
}
