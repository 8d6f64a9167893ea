/**
 * The NATS connection flags of `turnout up`, `control` and `proxy`: credentials and TLS, with
 * their environment fallbacks. One way to authenticate: `--nats-creds`, `--nats-nkey`,
 * `--nats-token`, or a user and password in the URL; only when none of those is given, the
 * environment: `NATS_TOKEN`, or `NATS_USER` with `NATS_PASSWORD`. Two explicit ways are an error
 * naming both (so a leftover flag never silently wins).
 */
import { ErrorCode, TurnoutError } from "../errors.ts";
import type { NatsCredentials } from "../transport/nats/nats-credentials.ts";
import { splitNatsUrls } from "../transport/nats/nats-url.ts";

/** The `parseArgs` options of the NATS flags, to spread into a command's options. */
export const NATS_FLAGS = {
  "nats-creds": { type: "string" },
  "nats-nkey": { type: "string" },
  "nats-token": { type: "string" },
  "nats-tls-ca": { type: "string" },
  "nats-tls-cert": { type: "string" },
  "nats-tls-key": { type: "string" },
} as const;

/** Usage lines of the NATS flags. */
export const NATS_FLAGS_USAGE = `  NATS credentials (one of): --nats-creds FILE (user JWT + nkey seed), --nats-nkey FILE (nkey
  seed), --nats-token TOKEN (or NATS_TOKEN), a user and password in the URL
  (nats://user:password@host:4222, or NATS_USER and NATS_PASSWORD). TLS: --nats-tls-ca FILE,
  --nats-tls-cert FILE --nats-tls-key FILE (client certificate); a tls:// URL requires TLS.
`;

/** The NATS flags' values as `parseArgs` answers them. */
export type NatsFlagValues = { [K in keyof typeof NATS_FLAGS]?: string };

function invalid(message: string): TurnoutError {
  return new TurnoutError(ErrorCode.InvalidArgument, message);
}

/**
 * Credentials and TLS files from the flags, the URL(s) and the environment (see the file
 * comment). The credentials in the URL are left in it: the connection takes them from there.
 */
export function natsCredentials(
  values: NatsFlagValues,
  url: string,
  env: Record<string, string | undefined> = process.env,
): NatsCredentials {
  const inUrl = Object.keys(splitNatsUrls(url).credentials).length > 0;
  const explicit = [
    values["nats-creds"] !== undefined && "--nats-creds",
    values["nats-nkey"] !== undefined && "--nats-nkey",
    values["nats-token"] !== undefined && "--nats-token",
    inUrl && "the credentials in the NATS URL",
  ].filter((f) => f !== false);
  if (explicit.length > 1) throw invalid(`${explicit.join(" and ")}: give one way to authenticate to NATS`);

  const credentials: NatsCredentials = {};
  if (values["nats-creds"] !== undefined) credentials.credsFile = values["nats-creds"];
  else if (values["nats-nkey"] !== undefined) credentials.nkeyFile = values["nats-nkey"];
  else if (values["nats-token"] !== undefined) credentials.token = values["nats-token"];
  else if (!inUrl) {
    const { NATS_TOKEN: token, NATS_USER: user, NATS_PASSWORD: password } = env;
    if (token && user) throw invalid("NATS_TOKEN and NATS_USER are both set: give one way to authenticate to NATS");
    if (password && !user) throw invalid("NATS_PASSWORD is set without NATS_USER");
    if (token) credentials.token = token;
    else if (user) Object.assign(credentials, { user, password });
  }

  const ca = values["nats-tls-ca"];
  const cert = values["nats-tls-cert"];
  const key = values["nats-tls-key"];
  if ((cert === undefined) !== (key === undefined)) throw invalid("--nats-tls-cert and --nats-tls-key go together");
  if (ca !== undefined || cert !== undefined) credentials.tls = { caFile: ca, certFile: cert, keyFile: key };
  return credentials;
}
