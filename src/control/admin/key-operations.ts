/**
 * The API key operations: create, list, revoke, and the reads the admin port's authentication
 * needs. Writes go the way of every admin write: validate → (queue) read → CAS-write `keys.<id>`
 * → publish, so a new key and a revocation reach every proxy with the next snapshot. A key's
 * token is made here, answered once by `create`, and never stored: the record holds the SHA-256
 * of its secret. Revocation keeps the record (with revoked_at/by) so ListKeys and the audit log
 * keep naming it; the snapshot leaves it out.
 */
import { clone, create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { KeyInfoSchema, KeyRecordSchema, type KeyInfo, type KeyRecord } from "../../../gen/turnout/v1/keys_pb.js";
import { KeyLimitsSchema, Role } from "../../../gen/turnout/v1/routing_pb.js";
import { KEY_ID, newApiToken } from "../../auth/api-token.ts";
import { ErrorCode, TurnoutError, invalidArgument } from "../../errors.ts";
import type { ConfigChange } from "../events/config-events.ts";
import type { PublishResult } from "../publish/publish.ts";
import type { StateStore } from "../state/state-store.ts";
import { validateKeyInput, type KeyInput } from "./validate-key.ts";

/** A key just made, with its token. */
export interface CreatedKey {
  key: KeyInfo;
  /** `tk_<id>_<secret>`: answered once, never stored or logged. */
  token: string;
  /** Version of the snapshot that carries the key. */
  snapshotVersion: number;
}

/** The API key operations of the control plane. */
export interface KeyOperations {
  /** Makes a key for `input`; `keyId` is its creator's key id. */
  create(input: KeyInput, keyId: string): Promise<CreatedKey>;
  /** Every key (revoked and expired ones too), sorted by id; no secrets, no hashes. */
  list(): Promise<KeyInfo[]>;
  /** Revokes key `id` (a no-op for a revoked key); `keyId` is the revoker's key id. */
  revoke(id: string, keyId: string): Promise<{ key: KeyInfo; snapshotVersion: number }>;
  /** The stored record of key `id`, read from the store now (undefined when there is none). */
  find(id: string): Promise<KeyRecord | undefined>;
  /** True when a key other than a client key is stored (revoked and expired ones count). */
  anyAdminKey(): Promise<boolean>;
  /** True once this control plane has stored a key other than a client key. */
  madeAdminKey(): boolean;
}

/** What the key operations need from the control plane. */
export interface KeyOperationsContext {
  store: StateStore;
  /** Runs `fn` after every earlier write of this process. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Compiles and publishes the stored state. */
  publish(): Promise<PublishResult>;
  /** Told of every accepted change after its publish. Default: none. */
  onChange?: (change: ConfigChange) => void;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** Creates the key operations over a control plane's store and publisher. */
export function createKeyOperations(ctx: KeyOperationsContext): KeyOperations {
  const { store, exclusive, publish } = ctx;
  const now = ctx.now ?? Date.now;
  const version = (r: PublishResult) => Number(r.snapshot.version);
  const info = (r: KeyRecord) => clone(KeyInfoSchema, r.key ?? create(KeyInfoSchema));
  let adminKeyStored = false;

  return {
    async create(input, keyId) {
      const violations = validateKeyInput(input, now());
      if (violations.length > 0) throw invalidArgument(violations);
      return exclusive(async () => {
        // A new token on every attempt, so a retried write (an id taken meanwhile) takes a new id.
        const made = newApiToken();
        const record = create(KeyRecordSchema, {
          key: {
            id: made.id,
            name: input.name,
            role: input.role,
            routes: [...input.routes],
            limits: input.role === Role.CLIENT && input.limits ? clone(KeyLimitsSchema, input.limits) : undefined,
            createdAt: timestampFromMs(now()),
            expiresAt: input.expiresAt,
            createdBy: keyId,
          },
          secretSha256: made.secretSha256,
        });
        const revision = await store.putKey(record, 0);
        if (input.role !== Role.CLIENT) adminKeyStored = true;
        const snapshotVersion = version(await publish());
        ctx.onChange?.({ kind: "key", name: made.id, action: "create", revision, snapshotVersion, keyId });
        return { key: info(record), token: made.token, snapshotVersion };
      });
    },
    async list() {
      return (await store.listKeys()).map((k) => info(k.value)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
    async revoke(id, keyId) {
      if (!KEY_ID.test(id))
        throw invalidArgument([
          {
            field: "id",
            message:
              id === ""
                ? "must not be empty"
                : `${JSON.stringify(id)} is not a key id (16 lowercase hex digits; the bootstrap token is revoked by changing TURNOUT_ADMIN_TOKEN)`,
          },
        ]);
      return exclusive(async () => {
        const stored = await store.getKey(id);
        if (stored === undefined) throw new TurnoutError(ErrorCode.NotFound, `key ${JSON.stringify(id)} does not exist`);
        if (stored.value.key?.revokedAt !== undefined) {
          const current = Number((await store.readSnapshot())?.value.version ?? 0n);
          return { key: info(stored.value), snapshotVersion: current };
        }
        const record = clone(KeyRecordSchema, stored.value);
        record.key!.revokedAt = timestampFromMs(now());
        record.key!.revokedBy = keyId;
        const revision = await store.putKey(record, stored.revision);
        const snapshotVersion = version(await publish());
        ctx.onChange?.({ kind: "key", name: id, action: "revoke", revision, snapshotVersion, keyId });
        return { key: info(record), snapshotVersion };
      });
    },
    find: async (id) => (KEY_ID.test(id) ? (await store.getKey(id))?.value : undefined),
    async anyAdminKey() {
      adminKeyStored ||= (await store.listKeys()).some((k) => k.value.key !== undefined && k.value.key.role !== Role.CLIENT);
      return adminKeyStored;
    },
    madeAdminKey: () => adminKeyStored,
  };
}
