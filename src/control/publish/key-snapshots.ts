/**
 * Compiles stored API keys into the snapshot's KeySnapshots: keys that are neither revoked nor
 * expired at compile time, sorted by id, with their role, scope, limits and the SHA-256 of their
 * secret (the record holds nothing more secret). Pure: the clock is a parameter.
 */
import { clone, create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { KeyRecord } from "../../../gen/turnout/v1/keys_pb.js";
import { KeyLimitsSchema, KeySnapshotSchema, type KeySnapshot } from "../../../gen/turnout/v1/routing_pb.js";

/** The snapshot form of every stored key that is not revoked, in the order given. */
export function keySnapshots(records: readonly KeyRecord[]): KeySnapshot[] {
  const out: KeySnapshot[] = [];
  for (const { key, secretSha256 } of records) {
    if (key === undefined || key.revokedAt !== undefined) continue;
    out.push(
      create(KeySnapshotSchema, {
        id: key.id,
        role: key.role,
        routes: [...key.routes],
        limits: key.limits && clone(KeyLimitsSchema, key.limits),
        secretSha256,
        expiresAt: key.expiresAt,
      }),
    );
  }
  return out;
}

/** True when `key` has an expiry at or before `nowMs`. */
export function keyExpired(key: { expiresAt?: Parameters<typeof timestampMs>[0] }, nowMs: number): boolean {
  return key.expiresAt !== undefined && timestampMs(key.expiresAt) <= nowMs;
}
