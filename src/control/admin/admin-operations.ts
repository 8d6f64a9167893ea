/**
 * The admin write path and reads, one function per admin operation. Every write: validate the
 * input → read the current state → apply the change in memory → check the WHOLE resulting state →
 * CAS-write the object with the caller's expected revision → publish (a no-op when the content is
 * unchanged). Writes are serialised within the process; CAS protects against other writers.
 * An invalid or conflicting write changes nothing and the old snapshot keeps serving.
 *
 * SwitchModel sets default_variant and clears the arms (the whole route goes to that variant); the
 * previous arms are forgotten, so a later SetWeights starts from a fresh contiguous split. The
 * route's seed is kept. since_version is recorded per route at publish (see publish/publish.ts).
 * Each write takes the key id of its caller last (default "system": the control plane itself),
 * which the ConfigChanged event carries.
 */
import { clone, create, equals } from "@bufbuild/protobuf";
import {
  ArmSchema,
  NodeSchema,
  RouteSchema,
  type Arm,
  type Node,
  type Route,
  type RoutingSnapshot,
} from "../../../gen/turnout/v1/routing_pb.js";
import { ErrorCode, TurnoutError, invalidArgument } from "../../errors.ts";
import { SYSTEM_KEY_ID } from "../auth/actor.ts";
import { checkDesiredState, desiredOf } from "../publish/compile.ts";
import type { ConfigChange } from "../events/config-events.ts";
import type { DesiredState } from "../state/desired-state.ts";
import { normalizeNode, normalizeRoute, resolveArms } from "./normalize.ts";
import type { PublishResult } from "../publish/publish.ts";
import type { StateStore, Stored, StoredState } from "../state/state-store.ts";
import { validateNode, validateRoute, validateWeights, routeNameProblem } from "./validate.ts";
import { checkExpectedRevision, consistencyError, type WriteTarget } from "./write-guard.ts";

/** Result of a write that stores an object. */
export interface WriteResult {
  /** Store revision of the object now. */
  revision: number;
  /** Version of the snapshot that carries the change (unchanged for a no-op). */
  snapshotVersion: number;
}

/** What serves a route now. */
export interface CurrentModel {
  route: string;
  variant: string;
  model: string;
  /** Snapshot version since which `variant` has been the default. */
  sinceVersion: number;
  arms: Arm[];
  snapshotVersion: number;
}

/** The admin operations of the control plane. */
export interface AdminOperations {
  listNodes(): Promise<Stored<Node>[]>;
  getNode(id: string): Promise<Stored<Node>>;
  putNode(node: Node, expectedRevision?: number, keyId?: string): Promise<WriteResult>;
  deleteNode(id: string, expectedRevision?: number, keyId?: string): Promise<{ snapshotVersion: number }>;
  listRoutes(): Promise<Stored<Route>[]>;
  getRoute(name: string): Promise<Stored<Route>>;
  /** Arms may carry weights only; ranges are computed relative to the stored route. */
  putRoute(route: Route, expectedRevision?: number, keyId?: string): Promise<WriteResult & { route: Route }>;
  deleteRoute(name: string, expectedRevision?: number, keyId?: string): Promise<{ snapshotVersion: number }>;
  getCurrentModel(route: string): Promise<CurrentModel>;
  /** default_variant := variant and arms := [] (the whole route to that variant). */
  switchModel(
    route: string,
    variant: string,
    expectedRevision?: number,
    keyId?: string,
  ): Promise<WriteResult & { previousVariant: string }>;
  /** A weighted split; variants left out get no buckets; only surplus buckets move. */
  setWeights(
    route: string,
    weights: { variant: string; weight: number }[],
    expectedRevision?: number,
    keyId?: string,
  ): Promise<WriteResult & { route: Route }>;
  getSnapshot(): Promise<RoutingSnapshot>;
}

/** What the operations need from the control plane. */
export interface AdminOperationsContext {
  store: StateStore;
  /** Runs `fn` after every earlier write of this process. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Compiles and publishes the stored state. */
  publish(): Promise<PublishResult>;
  /** Told of every accepted change after its publish (never of a no-op write). Default: none. */
  onChange?: (change: ConfigChange) => void;
}

function notFound(what: string): TurnoutError {
  return new TurnoutError(ErrorCode.NotFound, `${what} does not exist`);
}

function requireValid(violations: ReturnType<typeof validateNode>): void {
  if (violations.length > 0) throw invalidArgument(violations);
}

function requireRouteName(name: string, field: string): void {
  const problem = routeNameProblem(name);
  if (problem) throw invalidArgument([{ field, message: problem }]);
}

/** `state` with `node` put (replaced or added) or, when undefined, node `id` removed; answers the state and the node's index (-1 when removed). */
function withNode(state: StoredState, node: Node | undefined, id: string): { desired: DesiredState; index: number } {
  const desired = desiredOf(state);
  let index = desired.nodes.findIndex((n) => n.id === id);
  if (node === undefined) {
    desired.nodes.splice(index, 1);
    index = -1;
  } else if (index < 0) index = desired.nodes.push(node) - 1;
  else desired.nodes[index] = node;
  return { desired, index };
}

/** Like {@link withNode}, for routes. */
function withRoute(state: StoredState, route: Route | undefined, name: string): { desired: DesiredState; index: number } {
  const desired = desiredOf(state);
  let index = desired.routes.findIndex((r) => r.name === name);
  if (route === undefined) {
    desired.routes.splice(index, 1);
    index = -1;
  } else if (index < 0) index = desired.routes.push(route) - 1;
  else desired.routes[index] = route;
  return { desired, index };
}

function requireConsistent(desired: DesiredState, target: WriteTarget, action: string): void {
  const err = consistencyError(checkDesiredState(desired), desired, target, action);
  if (err) throw err;
}

/** Creates the admin operations over a control plane's store and publisher. */
export function createAdminOperations(ctx: AdminOperationsContext): AdminOperations {
  const { store, exclusive, publish } = ctx;
  const version = (r: PublishResult) => Number(r.snapshot.version);
  /** Announces an accepted change and answers its result. */
  const changed = <T extends { snapshotVersion: number; revision?: number }>(
    kind: ConfigChange["kind"],
    name: string,
    action: ConfigChange["action"],
    keyId: string,
    result: T,
  ): T => {
    ctx.onChange?.({ kind, name, action, revision: result.revision ?? 0, snapshotVersion: result.snapshotVersion, keyId });
    return result;
  };

  async function currentVersion(): Promise<number> {
    return Number((await store.readSnapshot())?.value.version ?? 0n);
  }

  /**
   * Stores `route` (validated and normalised) over `existing` with CAS on the revision read (the
   * caller's expected revision was checked against it), then publishes. Unchanged content is a
   * no-op that answers the current revision and snapshot version.
   */
  async function writeRoute(
    state: StoredState,
    route: Route,
    existing: Stored<Route> | undefined,
    field: string,
    action: ConfigChange["action"],
    keyId: string,
  ): Promise<WriteResult> {
    if (existing !== undefined && equals(RouteSchema, existing.value, route)) {
      return { revision: existing.revision, snapshotVersion: await currentVersion() };
    }
    const { desired, index } = withRoute(state, route, route.name);
    requireConsistent(desired, { kind: "route", index, field }, `writing route ${JSON.stringify(route.name)}`);
    const revision = await store.putRoute(route, existing?.revision ?? 0);
    return changed("route", route.name, action, keyId, { revision, snapshotVersion: version(await publish()) });
  }

  async function getSnapshot(): Promise<RoutingSnapshot> {
    const stored = await store.readSnapshot();
    if (stored === undefined) throw new TurnoutError(ErrorCode.Unavailable, "no snapshot has been published yet");
    return stored.value;
  }

  async function routeOf(state: StoredState, name: string): Promise<Stored<Route>> {
    const found = state.routes.find((r) => r.value.name === name);
    if (found === undefined) throw notFound(`route ${JSON.stringify(name)}`);
    return found;
  }

  return {
    listNodes: async () => (await store.readState()).nodes,
    async getNode(id) {
      return (await store.getNode(id)) ?? Promise.reject(notFound(`node ${JSON.stringify(id)}`));
    },
    async putNode(input, expected, keyId = SYSTEM_KEY_ID) {
      requireValid(validateNode(input, "node"));
      const node = normalizeNode(input);
      return exclusive(async () => {
        const state = await store.readState();
        const existing = state.nodes.find((n) => n.value.id === node.id);
        checkExpectedRevision(`node ${JSON.stringify(node.id)}`, existing?.revision, expected);
        if (existing !== undefined && equals(NodeSchema, existing.value, node)) {
          return { revision: existing.revision, snapshotVersion: await currentVersion() };
        }
        const { desired, index } = withNode(state, node, node.id);
        requireConsistent(desired, { kind: "node", index, field: "node" }, `writing node ${JSON.stringify(node.id)}`);
        const revision = await store.putNode(node, existing?.revision ?? 0);
        return changed("node", node.id, "put", keyId, { revision, snapshotVersion: version(await publish()) });
      });
    },
    async deleteNode(id, expected, keyId = SYSTEM_KEY_ID) {
      if (id === "") throw invalidArgument([{ field: "id", message: "must not be empty" }]);
      return exclusive(async () => {
        const state = await store.readState();
        const existing = state.nodes.find((n) => n.value.id === id);
        if (existing === undefined) throw notFound(`node ${JSON.stringify(id)}`);
        checkExpectedRevision(`node ${JSON.stringify(id)}`, existing.revision, expected);
        const { desired } = withNode(state, undefined, id);
        requireConsistent(desired, { kind: "node", index: -1, field: "id" }, `deleting node ${JSON.stringify(id)}`);
        await store.deleteNode(id, existing.revision);
        return changed("node", id, "delete", keyId, { snapshotVersion: version(await publish()) });
      });
    },
    listRoutes: async () =>
      (await store.readState()).routes.sort((a, b) => (a.value.name < b.value.name ? -1 : a.value.name > b.value.name ? 1 : 0)),
    async getRoute(name) {
      return (await store.getRoute(name)) ?? Promise.reject(notFound(`route ${JSON.stringify(name)}`));
    },
    async putRoute(input, expected, keyId = SYSTEM_KEY_ID) {
      requireValid(validateRoute(input, "route"));
      return exclusive(async () => {
        const state = await store.readState();
        const existing = state.routes.find((r) => r.value.name === input.name);
        checkExpectedRevision(`route ${JSON.stringify(input.name)}`, existing?.revision, expected);
        const route = normalizeRoute(input, existing?.value);
        return { ...(await writeRoute(state, route, existing, "route", "put", keyId)), route };
      });
    },
    async deleteRoute(name, expected, keyId = SYSTEM_KEY_ID) {
      requireRouteName(name, "name");
      return exclusive(async () => {
        const state = await store.readState();
        const existing = await routeOf(state, name);
        checkExpectedRevision(`route ${JSON.stringify(name)}`, existing.revision, expected);
        await store.deleteRoute(name, existing.revision);
        return changed("route", name, "delete", keyId, { snapshotVersion: version(await publish()) });
      });
    },
    async getCurrentModel(name) {
      requireRouteName(name, "route");
      const snapshot = await getSnapshot();
      const route = snapshot.routes.find((r) => r.name === name);
      if (route === undefined) throw notFound(`route ${JSON.stringify(name)}`);
      const since = (await store.readRouteSince())[name];
      const variant = route.variants.find((v) => v.name === route.defaultVariant);
      return {
        route: name,
        variant: route.defaultVariant,
        model: variant?.model ?? "",
        sinceVersion: since?.variant === route.defaultVariant ? since.since : Number(snapshot.version),
        arms: route.arms,
        snapshotVersion: Number(snapshot.version),
      };
    },
    async switchModel(name, variant, expected, keyId = SYSTEM_KEY_ID) {
      requireRouteName(name, "route");
      if (variant === "") throw invalidArgument([{ field: "variant", message: "must not be empty" }]);
      return exclusive(async () => {
        const state = await store.readState();
        const existing = await routeOf(state, name);
        if (!existing.value.variants.some((v) => v.name === variant)) {
          const names = existing.value.variants.map((v) => v.name).join(", ");
          throw invalidArgument([
            {
              field: "variant",
              message: `${JSON.stringify(variant)} is not a variant of route ${JSON.stringify(name)} (variants: ${names})`,
            },
          ]);
        }
        checkExpectedRevision(`route ${JSON.stringify(name)}`, existing.revision, expected);
        const route = clone(RouteSchema, existing.value);
        route.defaultVariant = variant;
        route.arms = [];
        const result = await writeRoute(state, route, existing, "route", "switch", keyId);
        return { ...result, previousVariant: existing.value.defaultVariant };
      });
    },
    async setWeights(name, weights, expected, keyId = SYSTEM_KEY_ID) {
      requireRouteName(name, "route");
      return exclusive(async () => {
        const state = await store.readState();
        const existing = await routeOf(state, name);
        requireValid(validateWeights(weights, "weights", new Set(existing.value.variants.map((v) => v.name))));
        checkExpectedRevision(`route ${JSON.stringify(name)}`, existing.revision, expected);
        const route = clone(RouteSchema, existing.value);
        route.arms = resolveArms(
          weights.map((w) => create(ArmSchema, { variant: w.variant, weight: w.weight })),
          existing.value.arms,
        );
        return { ...(await writeRoute(state, route, existing, "route", "weights", keyId)), route };
      });
    },
    getSnapshot,
  };
}
