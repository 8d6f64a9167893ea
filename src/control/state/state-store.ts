/**
 * The desired state on top of a KvStore: typed reads and compare-and-swap writes, nothing
 * compiled here (see publish/compile.ts). Keys: `nodes.<id>`, `routes.<base64url(name)>` (route
 * names may hold ':' or '/', which NATS keys do not allow), `settings`, the published snapshot at
 * SNAPSHOT_KEY and `meta.route-since` (since which snapshot version each route's default variant
 * serves), experiments at `experiments.<id>` and API keys at `keys.<id>` (a KeyRecord: the key and
 * the SHA-256 of its secret, never the secret). Values are binary protobuf (Node, Route, Settings,
 * RoutingSnapshot, Experiment, KeyRecord); an object's revision is its KvEntry revision.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  NodeSchema,
  RouteSchema,
  RoutingSnapshotSchema,
  SettingsSchema,
  type Node,
  type Route,
  type RoutingSnapshot,
  type Settings,
} from "../../../gen/turnout/v1/routing_pb.js";
import { ExperimentSchema, type Experiment } from "../../../gen/turnout/v1/experiment_pb.js";
import { KeyRecordSchema, type KeyRecord } from "../../../gen/turnout/v1/keys_pb.js";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import { SNAPSHOT_KEY, type KvEntry, type KvStore } from "../../transport/types.ts";

/** A stored object with the revision of its last write. */
export interface Stored<T> {
  value: T;
  revision: number;
}

/** The whole stored desired state. */
export interface StoredState {
  /** Nodes sorted by id. */
  nodes: Stored<Node>[];
  /** Routes sorted by key. */
  routes: Stored<Route>[];
  settings?: Stored<Settings>;
  /** Experiments (every status) sorted by key. */
  experiments: Stored<Experiment>[];
  /** API keys (revoked and expired ones too) sorted by id. Always set by `readState`. */
  keys?: Stored<KeyRecord>[];
}

/** Since which snapshot version each route's default variant has served it. */
export type RouteSince = Record<string, { variant: string; since: number }>;

const NODES = "nodes.";
const ROUTES = "routes.";
const EXPERIMENTS = "experiments.";
const KEYS = "keys.";
/** Key of the stored settings. */
const SETTINGS_KEY = "settings";
/** Key of the route-since record. */
const ROUTE_SINCE_KEY = "meta.route-since";

/** Store key of node `id`. */
function nodeKey(id: string): string {
  return NODES + id;
}

/** Store key of experiment `id` (ids are key-safe, see experiment-input.ts). */
function experimentKey(id: string): string {
  return EXPERIMENTS + id;
}

/** Store key of API key `id` (ids are 16 hex digits, see src/auth/api-token.ts). */
function keyKey(id: string): string {
  return KEYS + id;
}

/** Store key of route `name`. */
function routeKey(name: string): string {
  return ROUTES + Buffer.from(name, "utf8").toString("base64url");
}

function decode<T>(entry: KvEntry, parse: (bytes: Uint8Array) => T): Stored<T> {
  try {
    return { value: parse(entry.value), revision: entry.revision };
  } catch (cause) {
    throw new TurnoutError(ErrorCode.Internal, `stored value at ${entry.key} is not readable`, { cause });
  }
}

const parseNode = (b: Uint8Array) => fromBinary(NodeSchema, b);
const parseRoute = (b: Uint8Array) => fromBinary(RouteSchema, b);
const parseSettings = (b: Uint8Array) => fromBinary(SettingsSchema, b);
const parseExperiment = (b: Uint8Array) => fromBinary(ExperimentSchema, b);
const parseKey = (b: Uint8Array) => fromBinary(KeyRecordSchema, b);

/** Typed access to the desired state and the published snapshot in `kv`. */
export interface StateStore {
  readonly kv: KvStore;
  readState(): Promise<StoredState>;
  getNode(id: string): Promise<Stored<Node> | undefined>;
  getRoute(name: string): Promise<Stored<Route> | undefined>;
  /** Writes a node with CAS on `expectedRevision` (see KvStore.put); answers the new revision. */
  putNode(node: Node, expectedRevision?: number): Promise<number>;
  deleteNode(id: string, expectedRevision?: number): Promise<void>;
  putRoute(route: Route, expectedRevision?: number): Promise<number>;
  deleteRoute(name: string, expectedRevision?: number): Promise<void>;
  putSettings(settings: Settings, expectedRevision?: number): Promise<number>;
  getExperiment(id: string): Promise<Stored<Experiment> | undefined>;
  /** Writes an experiment with CAS on `expectedRevision` (0: must not exist). */
  putExperiment(experiment: Experiment, expectedRevision?: number): Promise<number>;
  /** The API key `id` (any string: one that is no key id is simply not found). */
  getKey(id: string): Promise<Stored<KeyRecord> | undefined>;
  /** Every stored API key, sorted by id. */
  listKeys(): Promise<Stored<KeyRecord>[]>;
  /** Writes an API key with CAS on `expectedRevision` (0: must not exist). */
  putKey(record: KeyRecord, expectedRevision?: number): Promise<number>;
  /** The published snapshot and the revision of its key. */
  readSnapshot(): Promise<Stored<RoutingSnapshot> | undefined>;
  /** Publishes `snapshot` with CAS on the snapshot key's revision (0: must not exist). */
  writeSnapshot(snapshot: RoutingSnapshot, expectedRevision: number): Promise<number>;
  readRouteSince(): Promise<RouteSince>;
  writeRouteSince(since: RouteSince): Promise<void>;
}

/** Creates the typed state store over `kv`. */
export function createStateStore(kv: KvStore): StateStore {
  return {
    kv,
    async readState() {
      const [nodes, routes, settings, experiments, keys] = await Promise.all([
        kv.list(NODES),
        kv.list(ROUTES),
        kv.get(SETTINGS_KEY),
        kv.list(EXPERIMENTS),
        kv.list(KEYS),
      ]);
      return {
        experiments: experiments.map((e) => decode(e, parseExperiment)),
        keys: keys.map((e) => decode(e, parseKey)),
        nodes: nodes.map((e) => decode(e, parseNode)),
        routes: routes.map((e) => decode(e, parseRoute)),
        settings: settings === undefined ? undefined : decode(settings, parseSettings),
      };
    },
    async getNode(id) {
      const entry = await kv.get(nodeKey(id));
      return entry === undefined ? undefined : decode(entry, parseNode);
    },
    async getRoute(name) {
      const entry = await kv.get(routeKey(name));
      return entry === undefined ? undefined : decode(entry, parseRoute);
    },
    putNode: (node, expected) => kv.put(nodeKey(node.id), toBinary(NodeSchema, node), expected),
    deleteNode: (id, expected) => kv.delete(nodeKey(id), expected),
    putRoute: (route, expected) => kv.put(routeKey(route.name), toBinary(RouteSchema, route), expected),
    deleteRoute: (name, expected) => kv.delete(routeKey(name), expected),
    async getExperiment(id) {
      const entry = await kv.get(experimentKey(id));
      return entry === undefined ? undefined : decode(entry, parseExperiment);
    },
    putExperiment: (e, expected) => kv.put(experimentKey(e.id), toBinary(ExperimentSchema, e), expected),
    async getKey(id) {
      const entry = await kv.get(keyKey(id));
      return entry === undefined ? undefined : decode(entry, parseKey);
    },
    listKeys: async () => (await kv.list(KEYS)).map((e) => decode(e, parseKey)),
    putKey: (record, expected) => kv.put(keyKey(record.key?.id ?? ""), toBinary(KeyRecordSchema, record), expected),
    putSettings: (settings, expected) => kv.put(SETTINGS_KEY, toBinary(SettingsSchema, settings), expected),
    async readSnapshot() {
      const entry = await kv.get(SNAPSHOT_KEY);
      if (entry === undefined) return undefined;
      try {
        return { value: fromBinary(RoutingSnapshotSchema, entry.value), revision: entry.revision };
      } catch {
        // Bytes that are no snapshot (written around the control plane): stand in an empty one
        // whose version is the entry's store revision — at least the number of writes ever made,
        // so higher than any version published before — and so the next publish replaces it.
        return { value: create(RoutingSnapshotSchema, { version: BigInt(entry.revision) }), revision: entry.revision };
      }
    },
    writeSnapshot: (snapshot, expected) => kv.put(SNAPSHOT_KEY, toBinary(RoutingSnapshotSchema, snapshot), expected),
    async readRouteSince() {
      const entry = await kv.get(ROUTE_SINCE_KEY);
      if (entry === undefined) return {};
      try {
        return JSON.parse(new TextDecoder().decode(entry.value)) as RouteSince;
      } catch {
        return {}; // only informational: rebuilt from the current snapshot
      }
    },
    async writeRouteSince(since) {
      await kv.put(ROUTE_SINCE_KEY, new TextEncoder().encode(JSON.stringify(since)));
    },
  };
}
