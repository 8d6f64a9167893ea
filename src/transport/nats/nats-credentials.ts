/**
 * How a process proves who it is to NATS, and how it checks the server: one of a creds file
 * (user JWT + nkey seed, as `nsc generate creds` writes it), an nkey seed file, a token, or a
 * user and password; optionally TLS with a CA to trust and a client certificate.
 *
 * {@link natsAuthOptions} checks everything once at start (files readable, seeds valid, one
 * method only), so a mistake is a clear error before the first connect. Files are read again at
 * every (re)connect, so a rotated creds file, seed or certificate is picked up without a restart
 * (a file that cannot be read then keeps the last good content). Secrets never appear in the
 * errors or log lines made here; files that hold secrets and are readable by group or others
 * get one warning (not refused: mounted Kubernetes secrets are 0644 by default).
 */
import { readFileSync, statSync } from "node:fs";
import {
  AuthorizationError,
  credsAuthenticator,
  nkeyAuthenticator,
  nkeys,
  tokenAuthenticator,
  UserAuthenticationExpiredError,
  usernamePasswordAuthenticator,
  type Authenticator,
  type TlsOptions,
} from "@nats-io/transport-node";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";

/** Files for TLS to the NATS server. */
export interface NatsTlsFiles {
  /** PEM CA bundle the server's certificate must chain to. Default: Node's built-in CAs. */
  caFile?: string;
  /** PEM client certificate (for a server with `verify: true`); needs `keyFile`. Default none. */
  certFile?: string;
  /** PEM private key of `certFile`. Default none. */
  keyFile?: string;
}

/** Credentials and TLS of a NATS connection; give at most one of creds, nkey, token, user. */
export interface NatsCredentials {
  /** Creds file (user JWT and nkey seed) for a server in operator/JWT mode. Default none. */
  credsFile?: string;
  /** File holding an nkey user seed (`SU…`) for a server's `nkey:` users. Default none. */
  nkeyFile?: string;
  /** Token for a server's `authorization { token }`. Default none. */
  token?: string;
  /** User name for a server's `users` (with `password`). Default none. */
  user?: string;
  /** Password of `user`. Default none. */
  password?: string;
  /** TLS: required when set (even `{}`, which trusts Node's built-in CAs). Default: TLS only if the server requires it. */
  tls?: NatsTlsFiles;
}

/** What {@link natsAuthOptions} adds to the client's connection options. */
export interface NatsAuthOptions {
  authenticator?: Authenticator;
  tls?: TlsOptions;
  /** Who connects, for errors and log lines: `user "turnout"`, `nkey UA…`, `a token` (never a secret). */
  identity?: string;
}

function invalid(message: string, cause?: unknown): TurnoutError {
  return new TurnoutError(ErrorCode.InvalidArgument, message, { cause });
}

/** Reads `file` now (a clear error when it cannot) and answers a reader that keeps the last good content. */
function fileReader(file: string, what: string, log: Logger, secret: boolean): () => Uint8Array {
  let last: Uint8Array;
  try {
    last = readFileSync(file);
  } catch (cause) {
    throw invalid(
      `${what} ${file}: cannot read it (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
      cause,
    );
  }
  if (secret && (statSync(file).mode & 0o077) !== 0) {
    log.warn({ file }, `${what} is readable by group or others; chmod 600 it`);
  }
  return () => {
    try {
      last = readFileSync(file);
    } catch (err) {
      log.warn({ file, err: (err as Error).message }, `cannot re-read the ${what}; using its last content`);
    }
    return last;
  };
}

/** The first line of a seed file that is an nkey seed (`S` + type + base32); comments and blank lines are skipped. */
function seedOf(content: Uint8Array): Uint8Array {
  const line = new TextDecoder()
    .decode(content)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => /^S[A-Z][A-Z2-7]{40,}$/.test(l));
  return new TextEncoder().encode(line ?? "");
}

/** Checks the credentials and builds the client's authenticator and TLS options. */
export function natsAuthOptions(credentials: NatsCredentials, log: Logger): NatsAuthOptions {
  const { credsFile, nkeyFile, token, user, password, tls } = credentials;
  const methods = [
    credsFile !== undefined && "a creds file",
    nkeyFile !== undefined && "an nkey seed file",
    token !== undefined && "a token",
    user !== undefined && "a user",
  ].filter((m) => m !== false);
  if (methods.length > 1) throw invalid(`NATS credentials: give one way to authenticate, not ${methods.join(" and ")}`);
  if (password !== undefined && user === undefined) throw invalid("NATS credentials: a password needs a user");
  const options: NatsAuthOptions = {};

  if (credsFile !== undefined) {
    const read = fileReader(credsFile, "NATS creds file", log, true);
    const authenticator = credsAuthenticator(read);
    let claims: { sub?: string; name?: string } = {};
    try {
      const { jwt } = authenticator("check") as { jwt: string };
      claims = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8"));
    } catch (cause) {
      throw invalid(`NATS creds file ${credsFile}: not a creds file (a user JWT and an nkey seed between ----- lines)`, cause);
    }
    options.authenticator = authenticator;
    options.identity = `the creds of ${JSON.stringify(claims.name ?? claims.sub ?? "?")}`;
  } else if (nkeyFile !== undefined) {
    const read = fileReader(nkeyFile, "NATS nkey seed file", log, true);
    const seed = () => seedOf(read());
    try {
      options.identity = `nkey ${nkeys.fromSeed(seed()).getPublicKey()}`;
    } catch (cause) {
      throw invalid(`NATS nkey seed file ${nkeyFile}: no valid nkey seed in it (a line "SU…")`, cause);
    }
    options.authenticator = nkeyAuthenticator(seed);
  } else if (token !== undefined) {
    if (token === "") throw invalid("NATS credentials: the token is empty");
    options.authenticator = tokenAuthenticator(token);
    options.identity = "a token";
  } else if (user !== undefined) {
    options.authenticator = usernamePasswordAuthenticator(user, password);
    options.identity = `user ${JSON.stringify(user)}`;
  }

  if (tls !== undefined) {
    if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
      throw invalid("NATS TLS: a client certificate needs both its certificate file and its key file");
    }
    // checked now; the client reads them again at every connect
    if (tls.caFile !== undefined) fileReader(tls.caFile, "NATS TLS CA file", log, false);
    if (tls.certFile !== undefined) fileReader(tls.certFile, "NATS TLS certificate file", log, false);
    if (tls.keyFile !== undefined) fileReader(tls.keyFile, "NATS TLS key file", log, true);
    options.tls = { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile };
  }
  return options;
}

/** True when the server refused the credentials (authorization violation, expired user or account). */
function isCredentialRefusal(err: unknown): boolean {
  return err instanceof AuthorizationError || err instanceof UserAuthenticationExpiredError;
}

/** True for a TLS failure: the server's certificate not trusted, no client certificate, TLS missing on one side. */
function isTlsFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = String((err as NodeJS.ErrnoException).code ?? "");
  // Node's certificate verification codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, …) and TLS/OpenSSL errors
  return /CERT|SSL|TLS|UNABLE_TO_|SIGNATURE|HOSTNAME/.test(code) || /\btls\b/i.test(err.message);
}

/**
 * One line saying the server at `where` refused this client's credentials or the TLS handshake
 * failed, or undefined for any other failure (an outage). `identity` is from {@link natsAuthOptions}.
 */
export function describeRefusal(err: unknown, identity: string | undefined, where: string): string | undefined {
  const detail = err instanceof Error ? err.message : String(err);
  if (isCredentialRefusal(err)) {
    return `NATS at ${where} refused ${identity ?? "a client without credentials"} (${detail})`;
  }
  if (isTlsFailure(err)) return `TLS to NATS at ${where} failed (${detail})`;
  return undefined;
}
