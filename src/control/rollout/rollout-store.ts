/**
 * Rollouts in the KvStore, next to the desired state. Keys (NATS-safe tokens):
 * - `rollouts.<id>`: the Rollout (binary protobuf); its revision is the record's CAS revision;
 * - `rollouts-active.<base64url route>`: the id of the route's active rollout, created with CAS
 *   "must not exist", so two control planes cannot start two rollouts of one route;
 * - `rollouts-lease.<id>`: `{"owner","expiresAtMs"}` JSON, the CAS-held lease of the control
 *   plane that drives the rollout;
 * - `audit.<id>.<seq, 6 digits>`: one RolloutEvent (binary protobuf) per decision, written with
 *   CAS "must not exist", so entries are never overwritten.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { RolloutEventSchema, RolloutSchema, type Rollout, type RolloutEvent } from "../../../gen/turnout/v1/rollout_pb.js";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { KvStore } from "../../transport/types.ts";

const ROLLOUTS = "rollouts.";
const ACTIVE = "rollouts-active.";
const LEASE = "rollouts-lease.";
const AUDIT = "audit.";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64url");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A rollout's lease as stored. */
export interface Lease {
  owner: string;
  expiresAtMs: number;
}

/** Typed access to rollouts, their leases and the audit log. */
export interface RolloutStore {
  get(id: string): Promise<Rollout | undefined>;
  /** Yields the rollout now (when it exists) and after every write, until `signal` aborts. */
  watchRecord(id: string, signal: AbortSignal): AsyncIterable<Rollout>;
  /** Every rollout, unordered. */
  list(): Promise<Rollout[]>;
  /** Writes `rollout` with CAS (0: must not exist); answers it with its new revision. */
  put(rollout: Rollout, expectedRevision: number): Promise<Rollout>;
  /** Ids of every route's active rollout (the route claims). */
  activeIds(): Promise<string[]>;
  /** The id of the route's active rollout, if any, with the key's revision. */
  active(route: string): Promise<{ id: string; revision: number } | undefined>;
  /** Claims the route for rollout `id`; false when another rollout holds it. */
  claimRoute(route: string, id: string): Promise<boolean>;
  /** Releases the route when rollout `id` holds it. */
  releaseRoute(route: string, id: string): Promise<void>;
  /** Takes or renews the lease of rollout `id` for `owner` until `nowMs + ttlMs`; false when another owner holds it. */
  acquireLease(id: string, owner: string, nowMs: number, ttlMs: number): Promise<boolean>;
  /** Gives the lease up when `owner` holds it. */
  releaseLease(id: string, owner: string): Promise<void>;
  /** Appends `event` to the audit log of its rollout; answers the event with its seq. */
  appendAudit(event: RolloutEvent): Promise<RolloutEvent>;
  /** The audit log of rollout `id`, oldest first. */
  audit(id: string): Promise<RolloutEvent[]>;
  /** Every audit entry of every rollout, grouped by rollout. */
  auditAll(): Promise<RolloutEvent[]>;
}

function decodeRollout(value: Uint8Array, revision: number, key: string): Rollout {
  try {
    const r = fromBinary(RolloutSchema, value);
    r.revision = BigInt(revision);
    return r;
  } catch (cause) {
    throw new TurnoutError(ErrorCode.Internal, `stored value at ${key} is not a rollout`, { cause });
  }
}

function decodeEvent(value: Uint8Array): RolloutEvent | undefined {
  try {
    return fromBinary(RolloutEventSchema, value);
  } catch {
    return undefined;
  }
}

/** Creates the rollout store over `kv`. */
export function createRolloutStore(kv: KvStore): RolloutStore {
  const isCasLoss = (err: unknown) => err instanceof TurnoutError && err.code === ErrorCode.Aborted;
  return {
    async get(id) {
      const e = await kv.get(ROLLOUTS + id);
      return e === undefined ? undefined : decodeRollout(e.value, e.revision, e.key);
    },
    async *watchRecord(id, signal) {
      let last = 0;
      for await (const e of kv.watch(ROLLOUTS + id, signal)) {
        if (e.deleted || e.revision <= last) continue;
        last = e.revision;
        yield decodeRollout(e.value, e.revision, e.key);
      }
    },
    async list() {
      return (await kv.list(ROLLOUTS)).map((e) => decodeRollout(e.value, e.revision, e.key));
    },
    async put(rollout, expected) {
      const copy = { ...rollout, revision: 0n };
      const revision = await kv.put(ROLLOUTS + rollout.id, toBinary(RolloutSchema, copy), expected);
      return { ...rollout, revision: BigInt(revision) };
    },
    async activeIds() {
      return (await kv.list(ACTIVE)).map((e) => decoder.decode(e.value));
    },
    async active(route) {
      const e = await kv.get(ACTIVE + b64(route));
      return e === undefined ? undefined : { id: decoder.decode(e.value), revision: e.revision };
    },
    async claimRoute(route, id) {
      try {
        await kv.put(ACTIVE + b64(route), encoder.encode(id), 0);
        return true;
      } catch (err) {
        if (isCasLoss(err)) return false;
        throw err;
      }
    },
    async releaseRoute(route, id) {
      const e = await kv.get(ACTIVE + b64(route));
      if (e === undefined || decoder.decode(e.value) !== id) return;
      await kv.delete(ACTIVE + b64(route), e.revision).catch((err: unknown) => {
        if (!isCasLoss(err)) throw err;
      });
    },
    async acquireLease(id, owner, nowMs, ttlMs) {
      const key = LEASE + id;
      const e = await kv.get(key);
      let expected = 0;
      if (e !== undefined) {
        let lease: Lease | undefined;
        try {
          lease = JSON.parse(decoder.decode(e.value)) as Lease;
        } catch {
          lease = undefined;
        }
        if (lease !== undefined && lease.owner !== owner && lease.expiresAtMs > nowMs) return false;
        expected = e.revision;
      }
      const lease: Lease = { owner, expiresAtMs: nowMs + ttlMs };
      try {
        await kv.put(key, encoder.encode(JSON.stringify(lease)), expected);
        return true;
      } catch (err) {
        if (isCasLoss(err)) return false;
        throw err;
      }
    },
    async releaseLease(id, owner) {
      const key = LEASE + id;
      const e = await kv.get(key);
      if (e === undefined) return;
      try {
        if ((JSON.parse(decoder.decode(e.value)) as Lease).owner !== owner) return;
      } catch {
        return;
      }
      await kv.delete(key, e.revision).catch((err: unknown) => {
        if (!isCasLoss(err)) throw err;
      });
    },
    async appendAudit(event) {
      const prefix = `${AUDIT}${event.rolloutId}.`;
      for (let attempt = 0; attempt < 20; attempt++) {
        const seq = (await kv.list(prefix)).length + 1;
        const entry = { ...event, seq };
        try {
          await kv.put(prefix + String(seq).padStart(6, "0"), toBinary(RolloutEventSchema, entry), 0);
          return entry;
        } catch (err) {
          if (!isCasLoss(err)) throw err;
        }
      }
      throw new TurnoutError(ErrorCode.Aborted, `audit log of rollout ${event.rolloutId}: too many concurrent appends`);
    },
    async audit(id) {
      return (await kv.list(`${AUDIT}${id}.`)).map((e) => decodeEvent(e.value)).filter((e) => e !== undefined);
    },
    async auditAll() {
      return (await kv.list(AUDIT)).map((e) => decodeEvent(e.value)).filter((e) => e !== undefined);
    },
  };
}
