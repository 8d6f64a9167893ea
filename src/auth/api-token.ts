/**
 * API tokens: their format, generation and checking, shared by the control plane (admin keys)
 * and the proxy (client keys). Pure apart from the random bytes of a new token.
 *
 * A token is `tk_<id>_<secret>`: `id` is 16 lowercase hex digits (8 random bytes), `secret` is
 * 32 random bytes in base64url (43 characters, no padding). Only the id and the lowercase hex
 * SHA-256 of the secret are ever stored or published; the secret exists in the answer to the
 * request that made the key, and with its holder.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** Prefix of every token. */
const PREFIX = "tk_";
/** `tk_`, 16 hex digits, `_`, 43 base64url characters. */
const TOKEN = /^tk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** A key id: 16 lowercase hex digits. */
export const KEY_ID = /^[0-9a-f]{16}$/;
/** A lowercase hex SHA-256. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A new token and what may be stored of it. */
export interface NewApiToken {
  /** Key id (16 lowercase hex digits). */
  id: string;
  /** The whole token, `tk_<id>_<secret>`: answer it once, never store or log it. */
  token: string;
  /** Lowercase hex SHA-256 of the secret part: what is stored. */
  secretSha256: string;
}

/** A token split into its parts. */
export interface ParsedApiToken {
  id: string;
  secret: string;
}

/** Lowercase hex SHA-256 of `secret` (the token's secret part, or a bootstrap token as a whole). */
export function secretSha256(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Makes a new random token. */
export function newApiToken(): NewApiToken {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, token: `${PREFIX}${id}_${secret}`, secretSha256: secretSha256(secret) };
}

/** The parts of `token`, or undefined when it is not of the form `tk_<id>_<secret>`. */
export function parseApiToken(token: string): ParsedApiToken | undefined {
  const m = TOKEN.exec(token);
  return m === null ? undefined : { id: m[1]!, secret: m[2]! };
}

/**
 * True when the SHA-256 of `secret` is `expectedSha256` (lowercase hex), compared in constant
 * time. False for an expected value that is not a SHA-256.
 */
export function secretMatches(secret: string, expectedSha256: string): boolean {
  if (!SHA256_HEX.test(expectedSha256)) return false;
  const given = createHash("sha256").update(secret, "utf8").digest();
  return timingSafeEqual(given, Buffer.from(expectedSha256, "hex"));
}
