/**
 * The client-key check of the traffic port: the request's `Authorization: Bearer <token>` against
 * the snapshot's keys. A token in Turnout's format (`tk_<id>_<secret>`, see api-token.ts) is
 * always checked — the id is looked up, the SHA-256 of the secret compared in constant time, then
 * the role (client keys only) and the expiry against the clock now — and a failing one is refused
 * whether keys are required or not. Without a token, or with a bearer in another format (the
 * placeholder an SDK sends when given any API key), the request is anonymous when keys are not
 * required and refused when they are. One hash per checked request; nothing else is allocated
 * beyond the token's parts.
 */
import { hash, timingSafeEqual } from "node:crypto";
import { Role } from "../../../gen/turnout/v1/routing_pb.js";
import { parseApiToken } from "../../auth/api-token.ts";
import type { CompiledKey } from "./compiled-key.ts";

/** Why a request's credentials were refused. */
export const KeyProblem = {
  /** No `Authorization: Bearer` (keys required). */
  Missing: "missing",
  /** Not a token of a key in the snapshot, or the wrong secret (includes revoked keys). */
  Invalid: "invalid",
  /** The key's `expires_at` has passed. */
  Expired: "expired",
  /** A key of an admin role: it has no rights on the traffic port. */
  NotClient: "not_client",
} as const;
export type KeyProblem = (typeof KeyProblem)[keyof typeof KeyProblem];

/** What the client is told for each problem (the same words in every dialect). */
export const KEY_PROBLEM_MESSAGES: Readonly<Record<KeyProblem, string>> = {
  [KeyProblem.Missing]: "missing API key: send it as 'Authorization: Bearer <key>'",
  [KeyProblem.Invalid]: "invalid API key",
  [KeyProblem.Expired]: "API key expired",
  [KeyProblem.NotClient]: "API key is not a client key",
};

/** The token of an `Authorization` header value with the Bearer scheme (any case), else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8) return undefined;
  // "Bearer " without a lower-cased copy of the header.
  if ((header.charCodeAt(0) | 0x20) !== 0x62 || header.slice(1, 7).toLowerCase() !== "earer ") return undefined;
  const token = header.slice(7).trim();
  return token === "" ? undefined : token;
}

/**
 * Checks the `authorization` header value of a request against `keys` at `nowMs` (epoch ms):
 * the key, undefined for an anonymous request (only when `required` is false), or the problem.
 */
export function checkClientKey(
  keys: ReadonlyMap<string, CompiledKey>,
  required: boolean,
  authorization: string | undefined,
  nowMs: number,
): CompiledKey | KeyProblem | undefined {
  const token = bearerToken(authorization);
  if (token === undefined) return required ? KeyProblem.Missing : undefined;
  const parsed = parseApiToken(token);
  if (parsed === undefined) return required ? KeyProblem.Invalid : undefined;
  const key = keys.get(parsed.id);
  if (key === undefined || key.digest.length !== 32) return KeyProblem.Invalid;
  if (!timingSafeEqual(hash("sha256", parsed.secret, "buffer"), key.digest)) return KeyProblem.Invalid;
  if (key.role !== Role.CLIENT) return KeyProblem.NotClient;
  if (nowMs >= key.expiresAtMs) return KeyProblem.Expired;
  return key;
}
