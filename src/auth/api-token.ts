/**
 * API tokens, shared by the control plane (which makes them) and the proxy (which checks them):
 * a token is `tk_<id>_<secret>` — `id` 16 lowercase hex digits (random, the key's id), `secret`
 * 32 random bytes in base64url (43 characters). Only the lowercase hex SHA-256 of the secret part
 * is stored and snapshotted (`KeySnapshot.secret_sha256`), never the secret. Pure.
 */
import { createHash, randomBytes } from "node:crypto";

/** A newly made token: the whole token (shown once) and its parts. */
export interface NewApiToken {
  /** `tk_<id>_<secret>`: what the key's holder sends as `Authorization: Bearer …`. */
  readonly token: string;
  /** The key id (16 lowercase hex digits). */
  readonly id: string;
  /** The secret part (43 base64url characters). */
  readonly secret: string;
  /** Lowercase hex SHA-256 of the secret: what is stored. */
  readonly secretSha256: string;
}

/** A token split into its parts (the secret not checked against anything yet). */
export interface ParsedApiToken {
  readonly id: string;
  readonly secret: string;
}

const PREFIX = "tk_";
const ID_LENGTH = 16;
const SECRET_LENGTH = 43;
/** `tk_` + id + `_` + secret. */
const TOKEN_LENGTH = PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH;
const ID = /^[0-9a-f]{16}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** Makes a new random token. */
export function newApiToken(): NewApiToken {
  const id = randomBytes(ID_LENGTH / 2).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { token: `${PREFIX}${id}_${secret}`, id, secret, secretSha256: secretSha256(secret) };
}

/** The parts of `text` when it is a token in the format above, else undefined. */
export function parseApiToken(text: string): ParsedApiToken | undefined {
  if (text.length !== TOKEN_LENGTH || !text.startsWith(PREFIX) || text.charCodeAt(PREFIX.length + ID_LENGTH) !== 0x5f)
    return undefined;
  const id = text.slice(PREFIX.length, PREFIX.length + ID_LENGTH);
  const secret = text.slice(PREFIX.length + ID_LENGTH + 1);
  if (!ID.test(id) || !SECRET.test(secret)) return undefined;
  return { id, secret };
}

/** Lowercase hex SHA-256 of a token's secret part, as `KeySnapshot.secret_sha256` holds it. */
export function secretSha256(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}
