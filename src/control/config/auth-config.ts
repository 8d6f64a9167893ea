/**
 * The config file's `auth:` block — process configuration, read at every start (like `alerts:`,
 * never stored), in either config shape:
 *
 * ```yaml
 * auth:
 *   admin_token_file: /etc/turnout/admin-token   # the bootstrap admin token (or env TURNOUT_ADMIN_TOKEN)
 *   require_client_keys: true                    # traffic needs a client key (flag --require-client-keys)
 *   allow_anonymous_traffic: false               # or: serve keyless traffic on a non-loopback address
 * ```
 *
 * A relative `admin_token_file` is resolved against the config file's directory when it is loaded.
 */
import { type Problems, at, readBool, readMap, readString } from "./config-reader.ts";

/** The auth settings of a config file. */
export interface AuthConfig {
  /** File holding the bootstrap admin token (at least 16 characters; mode 0600). Default: none. */
  adminTokenFile?: string;
  /** Every chat/embed/feedback request needs a client key. Default false. */
  requireClientKeys?: boolean;
  /** Serve traffic without client keys on a non-loopback address. Default false. */
  allowAnonymousTraffic?: boolean;
}

/** Reads the `auth` block at `path` (undefined when absent); problems go to `p`. */
export function readAuthConfig(value: unknown, p: Problems, path = "auth"): AuthConfig | undefined {
  const m = readMap(value, path, p, ["admin_token_file", "require_client_keys", "allow_anonymous_traffic"]);
  if (m === undefined) return undefined;
  const file = readString(m.admin_token_file, at(path, "admin_token_file"), p);
  if (file !== undefined && file.trim() === "") p.add(at(path, "admin_token_file"), "must be a file path, got an empty string");
  const requireClientKeys = readBool(m.require_client_keys, at(path, "require_client_keys"), p);
  const allowAnonymousTraffic = readBool(m.allow_anonymous_traffic, at(path, "allow_anonymous_traffic"), p);
  return {
    ...(file?.trim() && { adminTokenFile: file.trim() }),
    ...(requireClientKeys !== undefined && { requireClientKeys }),
    ...(allowAnonymousTraffic !== undefined && { allowAnonymousTraffic }),
  };
}
