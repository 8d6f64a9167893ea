/**
 * The check of a snapshot's API keys (part of `checkSnapshot`): ids are key ids and unique, roles
 * are set, secrets are SHA-256 hashes, and a client key's routes are names. Hashes only: a
 * snapshot that carried anything else in `secret_sha256` is refused.
 */
import { Role, type KeySnapshot } from "../../gen/turnout/v1/routing_pb.js";
import { KEY_ID, SHA256_HEX } from "../auth/api-token.ts";
import type { FieldViolation } from "../errors.ts";
import { uniqueKeys } from "./check-rules.ts";

const ROLES: ReadonlySet<Role> = new Set([Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.CLIENT]);

/** Problems with `keys`, with proto field paths (`keys[2].secret_sha256`). */
export function checkKeys(keys: readonly KeySnapshot[], out: FieldViolation[]): void {
  const duplicate = uniqueKeys("key id", "keys");
  keys.forEach((key, i) => {
    const path = `keys[${i}]`;
    const idProblem = KEY_ID.test(key.id)
      ? duplicate(key.id, i)
      : `${JSON.stringify(key.id)} is not a key id (16 lowercase hex digits)`;
    if (idProblem) out.push({ field: `${path}.id`, message: idProblem });
    if (!ROLES.has(key.role)) out.push({ field: `${path}.role`, message: `must be a role, got ${key.role}` });
    if (!SHA256_HEX.test(key.secretSha256))
      out.push({ field: `${path}.secret_sha256`, message: "must be a lowercase hex SHA-256" });
    key.routes.forEach((route, j) => {
      if (route === "") out.push({ field: `${path}.routes[${j}]`, message: "must not be empty" });
    });
  });
}
