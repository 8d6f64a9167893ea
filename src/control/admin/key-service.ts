/**
 * The KeyService handlers: thin adapters from Connect requests to the key operations and the
 * audit log; every error is converted once, here, with `rpc`. The caller's key id (from the
 * context values) is recorded as the creator or revoker.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { KeyService } from "../../../gen/turnout/v1/keys_pb.js";
import { rpc } from "../../errors.ts";
import { callerOf } from "../auth/actor.ts";
import type { AuditLog } from "../state/audit-log.ts";
import type { KeyOperations } from "./key-operations.ts";

/** The KeyService implementation over `keys` and `audit`. */
export function createKeyService(keys: KeyOperations, audit: AuditLog): ServiceImpl<typeof KeyService> {
  return {
    createKey: (req, ctx) =>
      rpc(async () => {
        const made = await keys.create(
          { name: req.name, role: req.role, routes: req.routes, limits: req.limits, expiresAt: req.expiresAt },
          callerOf(ctx),
        );
        return { key: made.key, token: made.token, snapshotVersion: BigInt(made.snapshotVersion) };
      }),
    listKeys: () => rpc(async () => ({ keys: await keys.list() })),
    revokeKey: (req, ctx) =>
      rpc(async () => {
        const r = await keys.revoke(req.id, callerOf(ctx));
        return { key: r.key, snapshotVersion: BigInt(r.snapshotVersion) };
      }),
    listAuditEntries: (req) => rpc(async () => ({ entries: await audit.list({ limit: req.limit, keyId: req.keyId }) })),
  };
}
