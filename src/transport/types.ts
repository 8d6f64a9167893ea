/**
 * The transport seam: the few interfaces the control plane and the proxy use to store state and
 * distribute snapshots. `memory/` implements them in one process over a data directory; `nats/`
 * (issue 3) implements them over JetStream KV. Everything above this seam is the same code.
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
