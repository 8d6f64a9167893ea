/**
 * The admin-side CLI commands' connection to a control plane: the address (`--admin`, else
 * TURNOUT_ADMIN, else the default admin port on this host), the token (`--token`, else
 * TURNOUT_TOKEN; sent as `authorization: Bearer <token>`) and a Connect client over HTTP/1.1.
 */
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

/** Admin address when neither `--admin` nor TURNOUT_ADMIN says one. */
const DEFAULT_ADMIN_URL = "http://127.0.0.1:8081";

/** The flags every admin-port command takes: `--admin URL` and `--token TOKEN` (for `parseArgs`). */
export const ADMIN_CLIENT_FLAGS = {
  admin: { type: "string" },
  token: { type: "string" },
} as const;

/** The control plane's admin URL: the flag, else TURNOUT_ADMIN, else {@link DEFAULT_ADMIN_URL}. */
export function adminUrl(flag: string | undefined): string {
  return flag ?? process.env.TURNOUT_ADMIN ?? DEFAULT_ADMIN_URL;
}

/** The admin token: the `--token` flag, else TURNOUT_TOKEN, else none (an open loopback admin port). */
export function adminToken(flag: string | undefined): string | undefined {
  const token = flag ?? process.env.TURNOUT_TOKEN;
  return token === undefined || token.trim() === "" ? undefined : token.trim();
}

/** An interceptor that sends `authorization: Bearer <token>` on every call. */
export function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** A Connect client of `service` at `baseUrl`, sending `token` when there is one. */
export function adminClient<T extends DescService>(service: T, baseUrl: string, token?: string): Client<T> {
  return createClient(
    service,
    createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: token === undefined ? [] : [bearer(token)] }),
  );
}

/**
 * What a command tells the user about `err`: a ConnectError becomes an Error reading
 * "Code: message", with a hint when the control plane could not be reached or wants a key;
 * anything else as is.
 */
export function adminError(err: unknown): unknown {
  if (!(err instanceof ConnectError)) return err;
  const hint =
    err.code === Code.Unavailable
      ? " (is the control plane running? --admin URL)"
      : err.code === Code.Unauthenticated
        ? " (--token TOKEN or TURNOUT_TOKEN)"
        : "";
  return new Error(`${Code[err.code]}: ${err.rawMessage}${hint}`);
}
