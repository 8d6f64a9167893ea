/**
 * API keys for proxy tests: a fresh token and the KeySnapshot a snapshot carries for it (the
 * SHA-256 of the secret, as the control plane stores it), built with the shared token module.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type KeyLimitsSchema, type KeySnapshotSchema, Role } from "../../gen/turnout/v1/routing_pb.js";
import { newApiToken } from "../../src/auth/api-token.ts";

/** A key as a test holds it: the token a client sends and the snapshot's entry. */
export interface TestKey {
  readonly token: string;
  readonly id: string;
  readonly snapshot: MessageInitShape<typeof KeySnapshotSchema>;
}

/** A new key (a client key on every route, without limits, unless told otherwise). */
export function testKey(
  options: { role?: Role; routes?: string[]; limits?: MessageInitShape<typeof KeyLimitsSchema>; expiresAtMs?: number } = {},
): TestKey {
  const t = newApiToken();
  return {
    token: t.token,
    id: t.id,
    snapshot: {
      id: t.id,
      role: options.role ?? Role.CLIENT,
      routes: options.routes ?? [],
      limits: options.limits,
      secretSha256: t.secretSha256,
      expiresAt: options.expiresAtMs === undefined ? undefined : timestampFromMs(options.expiresAtMs),
    },
  };
}

/** `Authorization` header of `key`. */
export function bearer(key: TestKey | string): Record<string, string> {
  return { authorization: `Bearer ${typeof key === "string" ? key : key.token}` };
}
