/**
 * Who an admin call comes from. A call carries `authorization: Bearer <token>`; the token is the
 * bootstrap admin token (compared in constant time; key id "bootstrap", role admin) or a key's
 * `tk_<id>_<secret>`, whose record is read from the store on every call — admin traffic is
 * light, and so a revocation or an expiry holds at once on every control plane. The secret's
 * SHA-256 is compared in constant time; then revocation, expiry (against the clock now) and role.
 *
 * Authentication is enforced once an admin token is configured or any key other than a client
 * key is stored (revoked and expired ones count, so revoking the last admin key does not open
 * the port again). Until then every caller is the anonymous admin — which the admin server
 * allows on loopback only. While open, the store is asked again at most every `recheckMs`
 * (an admin key made through this control plane closes the port at once, one made through
 * another within that time); a store that cannot be read then leaves the port as it was (open),
 * so reads that need no store keep working through an outage as they did before keys. Once
 * enforced, a key whose record cannot be read is refused (`unavailable`): only the admin token
 * works while the store is down. Messages never repeat a token.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { KeyRecord } from "../../../gen/turnout/v1/keys_pb.js";
import { Role } from "../../../gen/turnout/v1/routing_pb.js";
import { parseApiToken, secretMatches, secretSha256 } from "../../auth/api-token.ts";
import { isAdminRole, roleAllows, roleName } from "../../auth/roles.ts";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import { ANONYMOUS, BOOTSTRAP_KEY_ID, type Actor } from "./actor.ts";

/** Shortest bootstrap admin token. */
const MIN_ADMIN_TOKEN_LENGTH = 16;

/** The reads authentication needs (the control plane's key operations). */
export interface KeyDirectory {
  /** The stored record of key `id`, read now. */
  find(id: string): Promise<KeyRecord | undefined>;
  /** True when a key other than a client key is stored (read from the store). */
  anyAdminKey(): Promise<boolean>;
  /** True once this process has stored a key other than a client key (no store read). */
  madeAdminKey(): boolean;
}

/** Options of {@link createAdminAuthenticator}. */
export interface AdminAuthenticatorOptions {
  keys: KeyDirectory;
  /** The bootstrap admin token (at least 16 characters; surrounding whitespace is dropped). Default: none. */
  adminToken?: string;
  /** Clock for expiry, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** While not enforced, the longest time between two looks for a stored admin key, in ms. Default 1000. */
  recheckMs?: number;
}

/** Authenticates admin callers. */
export interface AdminAuthenticator {
  /**
   * True when calls must carry a token (see the module doc); once true, stays true. Reads the
   * store now, and throws when it cannot.
   */
  enforced(): Promise<boolean>;
  /**
   * The caller of a call with this `authorization` header value: the anonymous admin while
   * authentication is not enforced, else the token's key. Throws `unauthenticated`.
   */
  caller(authorization: string | null | undefined): Promise<Actor>;
}

const unauthenticated = (message: string) => new TurnoutError(ErrorCode.Unauthenticated, message);

/** Creates the authenticator. Throws `invalid_argument` for an admin token shorter than 16 characters. */
export function createAdminAuthenticator(options: AdminAuthenticatorOptions): AdminAuthenticator {
  const now = options.now ?? Date.now;
  const adminToken = options.adminToken?.trim();
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_LENGTH)
    throw new TurnoutError(
      ErrorCode.InvalidArgument,
      `TURNOUT_ADMIN_TOKEN (auth.admin_token_file): the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters, got ${adminToken.length}`,
    );
  const adminSha256 = adminToken === undefined ? undefined : secretSha256(adminToken);
  const recheckMs = options.recheckMs ?? 1000;
  let latched = adminToken !== undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;

  async function enforced(): Promise<boolean> {
    if (!latched && (await options.keys.anyAdminKey())) latched = true;
    checkedAt = now();
    return latched;
  }

  /** {@link enforced}, asking the store at most every `recheckMs` while open (see the module doc). */
  async function enforcedNow(): Promise<boolean> {
    if (!latched && options.keys.madeAdminKey()) latched = true;
    if (latched || now() - checkedAt < recheckMs) return latched;
    try {
      return await enforced();
    } catch {
      checkedAt = now();
      return latched;
    }
  }

  async function authenticate(authorization: string | null | undefined): Promise<Actor> {
    if (authorization === null || authorization === undefined || authorization.trim() === "")
      throw unauthenticated(
        "this admin API needs a key: send `authorization: Bearer <token>` (the turnout CLI: --token or TURNOUT_TOKEN)",
      );
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    if (m === null) throw unauthenticated("the authorization header must read `Bearer <token>`");
    const token = m[1]!;
    if (adminSha256 !== undefined && secretMatches(token, adminSha256)) return { keyId: BOOTSTRAP_KEY_ID, role: Role.ADMIN };
    const parsed = parseApiToken(token);
    if (parsed === undefined) throw unauthenticated("the token is not a Turnout key (tk_<id>_<secret>) nor the admin token");
    const record = await options.keys.find(parsed.id);
    const key = record?.key;
    if (record === undefined || key === undefined || !secretMatches(parsed.secret, record.secretSha256))
      throw unauthenticated("the token is not a known key");
    if (key.revokedAt !== undefined) throw unauthenticated(`key ${key.id} was revoked`);
    if (key.expiresAt !== undefined && timestampMs(key.expiresAt) <= now())
      throw unauthenticated(`key ${key.id} expired at ${new Date(timestampMs(key.expiresAt)).toISOString()}`);
    return { keyId: key.id, role: key.role };
  }

  return {
    enforced,
    async caller(authorization) {
      return (await enforcedNow()) ? authenticate(authorization) : ANONYMOUS;
    },
  };
}

/** Throws `permission_denied` unless `actor` may do what needs role `need`; `what` names it. */
export function authorize(actor: Actor, need: Role, what: string): void {
  if (roleAllows(actor.role, need)) return;
  const who = `key ${actor.keyId}`;
  if (!isAdminRole(actor.role))
    throw new TurnoutError(
      ErrorCode.PermissionDenied,
      `${who} is a ${roleName(actor.role)} key: it has no rights on the admin API`,
    );
  throw new TurnoutError(
    ErrorCode.PermissionDenied,
    `${who} (${roleName(actor.role)}) may not call ${what}: it needs ${roleName(need)}`,
  );
}
