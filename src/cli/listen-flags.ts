/**
 * The flags and settings of the two listeners, resolved once per command: bind address, TLS files
 * (flags win over the config file's `listen.<listener>.tls`), the bootstrap admin token
 * (`TURNOUT_ADMIN_TOKEN`, else `auth.admin_token_file`) and the client-key switches
 * (`--require-client-keys` / `--allow-anonymous-traffic`, else the config's `auth:`).
 */
import { ErrorCode, TurnoutError } from "../errors.ts";
import type { AuthConfig } from "../control/config/auth-config.ts";
import { readPrivateFile } from "../private-files.ts";
import type { TlsFiles } from "../server/dual-server.ts";
import { readTlsFiles } from "../server/tls-files.ts";

/** `parseArgs` options of the traffic listener (`up`, `proxy`). */
export const TRAFFIC_FLAGS = {
  host: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "require-client-keys": { type: "boolean" },
  "allow-anonymous-traffic": { type: "boolean" },
} as const;

/** `parseArgs` options of the admin listener (`up`, `control`). */
export const ADMIN_FLAGS = {
  "admin-host": { type: "string" },
  "admin-tls-cert": { type: "string" },
  "admin-tls-key": { type: "string" },
  "admin-client-ca": { type: "string" },
} as const;

/** Shortest bootstrap admin token accepted. */
const MIN_ADMIN_TOKEN = 16;

/** Parsed flag values (a subset of what `parseArgs` answers). */
type FlagValues = Partial<Record<string, string | boolean | string[]>>;

const str = (values: FlagValues, name: string): string | undefined => {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
};

/**
 * The TLS files of a listener: `--<prefix>tls-cert` and `--<prefix>tls-key` together (one without
 * the other is `invalid_argument` naming it), else the config file's; `clientCaFlag` adds or
 * replaces the client CA (it needs a certificate to go with it). The files are read once here, so
 * a missing file or a key of another certificate fails the command before it starts anything,
 * naming the flags or config field it came from.
 */
export function tlsFromFlags(
  values: FlagValues,
  prefix: "" | "admin-",
  config: TlsFiles | undefined,
  clientCaFlag?: string,
): TlsFiles | undefined {
  const cert = str(values, `${prefix}tls-cert`);
  const key = str(values, `${prefix}tls-key`);
  if ((cert === undefined) !== (key === undefined)) {
    const [given, missing] = cert === undefined ? ["tls-key", "tls-cert"] : ["tls-cert", "tls-key"];
    throw new TurnoutError(ErrorCode.InvalidArgument, `--${prefix}${given}: needs --${prefix}${missing} too`);
  }
  const fromFlags = cert !== undefined && key !== undefined;
  let files = fromFlags ? { certFile: cert, keyFile: key } : config;
  const clientCa = clientCaFlag === undefined ? undefined : str(values, clientCaFlag);
  if (clientCa !== undefined) {
    if (files === undefined)
      throw new TurnoutError(
        ErrorCode.InvalidArgument,
        `--${clientCaFlag}: client certificates need TLS on the admin port (--admin-tls-cert and --admin-tls-key, or listen.admin.tls)`,
      );
    files = { ...files, clientCaFile: clientCa };
  }
  if (files === undefined) return undefined;
  try {
    readTlsFiles(files);
  } catch (err) {
    const source = fromFlags ? `--${prefix}tls-cert/--${prefix}tls-key` : `listen.${prefix === "" ? "traffic" : "admin"}.tls`;
    const from = clientCa !== undefined && (err as Error).message.includes(clientCa) ? `--${clientCaFlag}` : source;
    throw new TurnoutError(ErrorCode.InvalidArgument, `${from}: ${(err as Error).message}`, { cause: err });
  }
  return files;
}

/**
 * The bootstrap admin token: env `TURNOUT_ADMIN_TOKEN`, else the file `auth.admin_token_file`
 * (trimmed; refused when group or others may read it), else undefined. Shorter than 16
 * characters, or a file that is missing or empty, is `invalid_argument` naming where it came from.
 */
export function readAdminToken(auth: AuthConfig | undefined): string | undefined {
  const env = process.env.TURNOUT_ADMIN_TOKEN;
  let token: string | undefined;
  let source: string;
  if (env !== undefined && env !== "") {
    token = env.trim();
    source = "TURNOUT_ADMIN_TOKEN";
  } else if (auth?.adminTokenFile !== undefined) {
    const file = auth.adminTokenFile;
    source = "auth.admin_token_file";
    token = readPrivateFile(file, source)?.trim();
    if (token === undefined) throw new TurnoutError(ErrorCode.InvalidArgument, `${source}: ${file}: no such file`);
  } else return undefined;
  if (token.length < MIN_ADMIN_TOKEN)
    throw new TurnoutError(
      ErrorCode.InvalidArgument,
      `${source}: the admin token must be at least ${MIN_ADMIN_TOKEN} characters (e.g. \`openssl rand -hex 32\`)`,
    );
  return token;
}

/** The client-key switches: each flag when given, else the config's `auth:`, else off. */
export function clientAuthFromFlags(
  values: FlagValues,
  auth: AuthConfig | undefined,
): { requireClientKeys: boolean; allowAnonymousTraffic: boolean } {
  const flag = (name: string) => (values[name] === true ? true : undefined);
  return {
    requireClientKeys: flag("require-client-keys") ?? auth?.requireClientKeys ?? false,
    allowAnonymousTraffic: flag("allow-anonymous-traffic") ?? auth?.allowAnonymousTraffic ?? false,
  };
}
