/**
 * NATS server URLs as operators write them — `nats://user:password@host:4222`, `nats://token@host`,
 * several comma-separated — split into bare server URLs for the client and the credentials they
 * carried, and a form safe to print: `nats://turnout:***@host:4222`, `nats://***@host:4222`.
 *
 * As with the Go client, a user part without a colon is a token; with one it is a user and a
 * password. Both are percent-decoded (a password with `@` or `:` is written `%40`, `%3A`).
 */
import { ErrorCode, TurnoutError } from "../../errors.ts";

/** Credentials found in server URLs. */
export interface NatsUrlCredentials {
  /** User of `nats://user:password@host`. */
  user?: string;
  /** Password of `nats://user:password@host` (may be empty). */
  password?: string;
  /** Token of `nats://token@host`. */
  token?: string;
}

/** The result of {@link splitNatsUrls}. */
export interface SplitNatsUrls {
  /** The server URLs without their user part. */
  servers: string[];
  /** The credentials the URLs carried (all URLs that carry any must carry the same). */
  credentials: NatsUrlCredentials;
}

/** scheme, user part (up to the last `@` before the host), the rest. */
const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?(?:([^/?#]*)@)?(.*)$/;

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    // the message never shows the part: it may be a password
    throw new TurnoutError(ErrorCode.InvalidArgument, "NATS URL: the user part is not valid percent-encoding");
  }
}

function parse(url: string): { bare: string; credentials: NatsUrlCredentials } {
  const [, scheme = "", userInfo, rest = ""] = URL_PARTS.exec(url.trim()) ?? [];
  const bare = `${scheme}${rest}`;
  if (userInfo === undefined) return { bare, credentials: {} };
  const colon = userInfo.indexOf(":");
  if (colon < 0) return { bare, credentials: { token: decode(userInfo) } };
  return { bare, credentials: { user: decode(userInfo.slice(0, colon)), password: decode(userInfo.slice(colon + 1)) } };
}

const same = (a: NatsUrlCredentials, b: NatsUrlCredentials) =>
  a.user === b.user && a.password === b.password && a.token === b.token;

/** Splits server URLs (an array, or one string of comma-separated URLs) into bare URLs and credentials. */
export function splitNatsUrls(value: string | string[]): SplitNatsUrls {
  const urls = (Array.isArray(value) ? value : value.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  const servers: string[] = [];
  let credentials: NatsUrlCredentials = {};
  let found = false;
  for (const url of urls) {
    const parsed = parse(url);
    servers.push(parsed.bare);
    if (Object.keys(parsed.credentials).length === 0) continue;
    if (found && !same(credentials, parsed.credentials)) {
      throw new TurnoutError(ErrorCode.InvalidArgument, "NATS URLs: the servers carry different credentials; give one set");
    }
    credentials = parsed.credentials;
    found = true;
  }
  return { servers, credentials };
}

/** The URL(s) with any password or token replaced by `***` (the user name is kept). */
export function redactNatsUrl(value: string | string[]): string {
  const urls = Array.isArray(value) ? value : value.split(",");
  return urls
    .map((url) => {
      const [, scheme = "", userInfo, rest = ""] = URL_PARTS.exec(url.trim()) ?? [];
      if (userInfo === undefined) return `${scheme}${rest}`;
      const colon = userInfo.indexOf(":");
      return `${scheme}${colon < 0 ? "***" : `${userInfo.slice(0, colon)}:***`}@${rest}`;
    })
    .join(",");
}
