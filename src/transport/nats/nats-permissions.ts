/**
 * The NATS subject permissions each Turnout role needs, as nats-server `permissions` lists —
 * derived from the subjects, bucket and stream the transport uses, so they change with them.
 * docs/distributed.md shows them as a table and as a nats-server config (a test checks the page
 * against {@link natsPermissions} and runs that config).
 *
 * A control plane owns the state: it may write the KV bucket and manage its two streams and
 * their consumers, nothing else in the account. A proxy may only read the bucket (bind to it and
 * watch `snapshot.current` with an ordered consumer), append to the outcome stream, publish
 * its own reports and share load, key usage and accepted feedback keys with the other proxies; it can neither write a key (`$KV.<bucket>.…`) nor change, purge or delete a
 * stream (`$JS.API.STREAM.{CREATE,UPDATE,PURGE,DELETE,MSG.DELETE}…`) nor read the outcomes.
 * JetStream answers requests on `_INBOX.…`.
 */
import { SNAPSHOT_KEY, SUBJECTS } from "../types.ts";
import { encodeKvKey } from "./kv-key-codec.ts";

/** A nats-server `permissions` block: subjects a user may publish to and subscribe to. */
export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

/** Options of {@link natsPermissions}: the names the transport was given. */
export interface NatsPermissionNames {
  /** KV bucket of the state. Default "turnout_state". */
  bucket?: string;
  /** Outcome stream. Default "TURNOUT_OUTCOMES". */
  stream?: string;
  /** Outcome stream subject. Default "turnout.outcomes". */
  subject?: string;
}

/** The permissions of a control plane and of a proxy. */
export function natsPermissions(names: NatsPermissionNames = {}): { control: NatsPermissions; proxy: NatsPermissions } {
  const bucket = names.bucket ?? "turnout_state";
  const kv = `KV_${bucket}`;
  const stream = names.stream ?? "TURNOUT_OUTCOMES";
  const subject = names.subject ?? "turnout.outcomes";
  const api = "$JS.API";
  return {
    control: {
      publish: [
        `${api}.INFO`,
        // create and inspect its two streams; consumers on them; reads of keys
        `${api}.STREAM.*.${kv}`,
        `${api}.STREAM.*.${stream}`,
        `${api}.STREAM.MSG.GET.${kv}`,
        `${api}.DIRECT.GET.${kv}.>`,
        `${api}.CONSUMER.*.${kv}`,
        `${api}.CONSUMER.*.${kv}.>`,
        `${api}.CONSUMER.*.${stream}`,
        `${api}.CONSUMER.*.${stream}.>`,
        `${api}.CONSUMER.MSG.NEXT.${stream}.*`,
        `$KV.${bucket}.>`, // every state write, snapshot.current included
        `$JS.ACK.${stream}.>`, // acks and naks of outcome batches
        `$JS.FC.${kv}.>`, // flow control of its KV watches
        "turnout.>", // config, snapshot and rollout events
      ],
      subscribe: ["_INBOX.>", "turnout.>"],
    },
    proxy: {
      publish: [
        `${api}.INFO`,
        `${api}.STREAM.INFO.${kv}`,
        // a watch of snapshot.current only: an ordered consumer filtered to that key
        `${api}.CONSUMER.CREATE.${kv}.*.$KV.${bucket}.${encodeKvKey(SNAPSHOT_KEY)}`,
        `$JS.FC.${kv}.>`,
        `${api}.STREAM.INFO.${stream}`,
        subject,
        SUBJECTS.proxyStatusAll,
        SUBJECTS.proxyApplied,
        SUBJECTS.nodeHealth,
        SUBJECTS.fleetLoadAll,
        "turnout.usage.*",
        SUBJECTS.feedbackSeenAll,
      ],
      subscribe: ["_INBOX.>", SUBJECTS.fleetLoadAll, "turnout.usage.*", SUBJECTS.feedbackSeenAll],
    },
  };
}
