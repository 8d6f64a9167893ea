/**
 * The transport seam: the few interfaces the control plane and the proxy use to store state and
 * distribute snapshots. `memory/` implements them in one process over a data directory; `nats/`
 * implements them over JetStream KV and streams. Everything above this seam is the same code.
 */

/** One stored value with its revision. */
export interface KvEntry {
  /** The key as given to the store (any string; stores encode it as they need). */
  readonly key: string;
  /** The stored bytes. */
  readonly value: Uint8Array;
  /** Revision of this write: increases with every write to the store (a NATS KV stream sequence). */
  readonly revision: number;
  /** True when this entry records a deletion (only seen by `watch`). */
  readonly deleted?: boolean;
}

/** A key-value store with compare-and-swap writes. */
export interface KvStore {
  /** The entry at `key`, or undefined when there is none. */
  get(key: string): Promise<KvEntry | undefined>;
  /** Every live entry whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<KvEntry[]>;
  /**
   * Writes `value` at `key` and answers the new revision. `expectedRevision` undefined writes
   * unconditionally; 0 requires that the key does not exist; n requires the key's revision to be n.
   * A mismatch throws `TurnoutError` with code `aborted`; an unreachable store `unavailable`.
   */
  put(key: string, value: Uint8Array, expectedRevision?: number): Promise<number>;
  /** Deletes `key` (same `expectedRevision` rule as `put`). Deleting a missing key is a no-op. */
  delete(key: string, expectedRevision?: number): Promise<void>;
  /**
   * Yields the current entry of `key` at once (when there is one), then every later write, until
   * `signal` aborts. May yield an entry twice; consumers ignore revisions they have seen.
   */
  watch(key: string, signal: AbortSignal): AsyncIterable<KvEntry>;
  /** Releases files, timers and connections. */
  close(): Promise<void>;
}

/** Key of the published RoutingSnapshot (binary protobuf) in the store. */
export const SNAPSHOT_KEY = "snapshot.current";

/** What a proxy reports after it sees a snapshot. */
export interface ProxyReport {
  /** Proxy id. */
  proxy: string;
  /** Version the proxy serves now. */
  appliedVersion: number;
  /** ACK: the snapshot seen was applied; NACK: it was rejected (see `error`). */
  state: "ACK" | "NACK";
  /** Why a snapshot was rejected. */
  error?: string;
  /** Version of the snapshot the report is about. */
  version: number;
}

/** A message on the event bus. */
export interface BusMessage {
  /** Subject it was published on, e.g. "turnout.events.config". */
  readonly subject: string;
  /** Payload bytes. */
  readonly data: Uint8Array;
}

/**
 * Fire-and-forget publish/subscribe (core NATS subjects; in-process in embedded mode). Used for
 * proxy status reports (ACK/NACK, heartbeats) and config events. Nothing is stored: a subscriber
 * sees only what is published while it listens.
 */
export interface EventBus {
  /** Publishes `data` on `subject`. Never throws because the bus is down (the message is dropped). */
  publish(subject: string, data: Uint8Array): void;
  /**
   * Yields every message on `subject` (NATS wildcards: `*` one token, `>` the rest) from now
   * until `signal` aborts.
   */
  subscribe(subject: string, signal: AbortSignal): AsyncIterable<BusMessage>;
}

/** One entry of the outcome log, as a durable consumer sees it. */
export interface LogEntry {
  /** The appended bytes. */
  readonly data: Uint8Array;
  /** Position in the log (a JetStream stream sequence), increasing. */
  readonly seq: number;
  /** Marks this entry processed for the consumer; unacked entries are delivered again later. */
  ack(): void;
}

/** One entry read back by {@link OutcomeLog.replay}: already processed, nothing to ack. */
export interface ReplayedEntry {
  /** The appended bytes. */
  readonly data: Uint8Array;
  /** Position in the log, increasing. */
  readonly seq: number;
}

/**
 * A durable, append-only log (a JetStream stream; a file in embedded mode) that proxies append
 * outcome batches to and the control plane reads with a durable consumer, so neither side's
 * restart loses or doubles a record. A restarted reader rebuilds in-memory state with `replay`
 * (what its previous run processed) and then continues with `consume` (everything else).
 */
export interface OutcomeLog {
  /**
   * Appends `data` durably. `id` deduplicates: appending the same id twice (a retry) stores it
   * once. Throws `TurnoutError` `unavailable` when the log cannot be reached.
   */
  append(id: string, data: Uint8Array): Promise<void>;
  /**
   * Yields entries not yet acked by the durable consumer `consumer`, oldest first, then new ones
   * as they arrive, until `signal` aborts. A restarted consumer resumes after its last ack.
   */
  consume(consumer: string, signal: AbortSignal): AsyncIterable<LogEntry>;
  /**
   * Yields, oldest first, the entries appended at or after `sinceMs` (epoch ms) that the durable
   * consumer `consumer` has already acked — what a previous run of the consumer processed — then
   * ends. Together with a following `consume` every retained entry since `sinceMs` is seen once.
   * Leaves the durable consumer untouched; yields nothing for an unknown consumer. The time bound
   * may be coarse (a log may also yield somewhat older entries; readers filter by their own
   * timestamps). Ends early when `signal` aborts. Throws `TurnoutError` `unavailable` when the
   * log cannot be reached.
   */
  replay(consumer: string, sinceMs: number, signal: AbortSignal): AsyncIterable<ReplayedEntry>;
}

/** Everything above the seam needs: a store, a bus and the outcome log. */
export interface Transport {
  readonly store: KvStore;
  readonly bus: EventBus;
  readonly outcomes: OutcomeLog;
  /** Closes the three (and the connection under them). */
  close(): Promise<void>;
}

/** Subjects on the bus; payloads are the JSON form of the named turnout.v1 message. */
export const SUBJECTS = {
  /** ProxyStatus from proxy `<id>`: on every snapshot seen and as heartbeat. */
  proxyStatus: (proxyId: string) => `turnout.fleet.status.${proxyId}`,
  /** Wildcard of every proxy's status. */
  proxyStatusAll: "turnout.fleet.status.*",
  /** FleetLoad from proxy `<id>`: its requests in flight per node, on change (coalesced) and refreshed. */
  fleetLoad: (proxyId: string) => `turnout.fleet.load.${proxyId}`,
  /** Wildcard of every proxy's FleetLoad. */
  fleetLoadAll: "turnout.fleet.load.*",
  /** KeyUsage from proxy `<id>`: its use of the limited client keys, every sharing interval while in use, and as a heartbeat. */
  keyUsage: (proxyId: string) => `turnout.usage.${proxyId}`,
  /** Wildcard of every proxy's KeyUsage. */
  keyUsageAll: "turnout.usage.*",
  /** FeedbackSeen from proxy `<id>`: the replay keys of feedback it accepted, per event-loop turn, sent again until it comes back. */
  feedbackSeen: (proxyId: string) => `turnout.feedback.seen.${proxyId}`,
  /** Wildcard of every proxy's FeedbackSeen. */
  feedbackSeenAll: "turnout.feedback.seen.*",
  /** ConfigChanged for every accepted admin change. */
  configChanged: "turnout.events.config",
  /** SnapshotPublished for every new snapshot. */
  snapshotPublished: "turnout.events.snapshot",
  /** ProxyStatus again for every ACK/NACK (not heartbeats), for event followers. */
  proxyApplied: "turnout.events.proxy",
  /** RolloutEvent for every rollout decision (started, step, gate_failed, rolled_back, ...). */
  rolloutEvents: "turnout.events.rollout",
  /** NodeHealthChanged whenever a proxy's view of a node changes (taken out of rotation or back). */
  nodeHealth: "turnout.events.node",
} as const;
