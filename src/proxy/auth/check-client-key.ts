/**
 * The client-key check of the traffic port: the request's `Authorization: Bearer <token>` against
 * the snapshot's keys. A token in Turnout's format (`tk_<id>_<secret>`, see api-token.ts) is
 * always checked — the id is looked up, the SHA-256 of the secret compared in constant time, then
 * the role (client keys only) and the expiry against the clock now — and a failing one is refused
 * whether keys are required or not. Without a token, or with a bearer in another format (the
 * placeholder an SDK sends when given any API key), the request is anonymous when keys are not
 * required and refused when they are. A token whose secret matched once is remembered by the
 * snapshot's key table, so a key's later requests cost one map lookup of the token instead of the
 * parse and the hash (the role and expiry are checked on every request); the first request of a
 * key, and every bad token, costs one hash.
 */
import { hash, timingSafeEqual } from "node:crypto";
import { Role } from "../../../gen/turnout/v1/routing_pb.js";
import { parseApiToken } from "../../auth/api-token.ts";
import type { CompiledKey, KeyTable } from "./compiled-key.ts";

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

/** "bearer" as char codes (compared with the 0x20 bit set: any case). */
const BEARER = [0x62, 0x65, 0x61, 0x72, 0x65, 0x72];

/** The token of an `Authorization` header value with the Bearer scheme (any case), else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8 || header.charCodeAt(6) !== 0x20) return undefined;
  for (let i = 0; i < 6; i++) if ((header.charCodeAt(i) | 0x20) !== BEARER[i]) return undefined;
  let start = 7;
  let end = header.length;
  while (start < end && header.charCodeAt(start) === 0x20) start++;
  while (end > start && header.charCodeAt(end - 1) === 0x20) end--;
  return start === end ? undefined : header.slice(start, end);
}

/**
 * Checks the `authorization` header value of a request against `keys` at `nowMs` (epoch ms):
 * the key, undefined for an anonymous request (only when `required` is false), or the problem.
 */
export function checkClientKey(
  keys: KeyTable,
  required: boolean,
  authorization: string | undefined,
  nowMs: number,
): CompiledKey | KeyProblem | undefined {
  const token = bearerToken(authorization);
  if (token === undefined) return required ? KeyProblem.Missing : undefined;
  let key = keys.verified.get(token);
  if (key === undefined) {
    const parsed = parseApiToken(token);
    if (parsed === undefined) return required ? KeyProblem.Invalid : undefined;
    const candidate = keys.byId.get(parsed.id);
    if (candidate === undefined || candidate.digest.length !== 32) return KeyProblem.Invalid;
    if (!timingSafeEqual(hash("sha256", parsed.secret, "buffer"), candidate.digest)) return KeyProblem.Invalid;
    keys.verified.set(token, candidate);
    key = candidate;
  }
  if (key.role !== Role.CLIENT) return KeyProblem.NotClient;
  if (nowMs >= key.expiresAtMs) return KeyProblem.Expired;
  return key;
}
