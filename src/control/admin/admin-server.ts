/**
 * The admin server: the control plane's services on their own port, separate from traffic. One
 * port speaks Connect (JSON or binary over HTTP/1.1, e.g. curl), gRPC over h2c (`buf curl
 * --protocol grpc --http2-prior-knowledge`, grpcurl -plaintext) and gRPC-web.
 *
 * Every RPC, gRPC reflection and `/metrics` need a key of the right role once authentication is
 * enforced (an admin token configured, or an admin key stored: control/auth/). Without either,
 * a loopback listener stays open — every caller is the anonymous admin, and one log line says so
 * — and any other address refuses to start.
 */
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { Role } from "../../../gen/turnout/v1/routing_pb.js";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { type TlsFiles, listenDual } from "../../server/dual-server.ts";
import { registerReflection } from "../../server/reflection/register-reflection.ts";
import { PROMETHEUS_CONTENT_TYPE, isMetricsPath } from "../../stats/prometheus-text.ts";
import { createAdminAuthenticator, authorize, type AdminAuthenticator } from "../auth/admin-authenticator.ts";
import { adminExposureProblem } from "../auth/admin-exposure.ts";
import { REMOTE_ADDRESS, createAdminInterceptor } from "../auth/admin-interceptor.ts";
import { methodsWithoutRole } from "../auth/method-roles.ts";
import type { ControlPlane } from "../control-plane.ts";

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind. Default "127.0.0.1". */
  host?: string;
  /** The control plane whose services are served. */
  controlPlane: ControlPlane;
  /** Root logger; the server logs as `component: "admin-server"`. */
  logger: Logger;
  /** More Prometheus text appended to the control plane's on `/metrics` (e.g. alert counters). Default: none. */
  extraMetrics?: () => string;
  /**
   * Serve TLS (HTTP/2 and HTTP/1.1 by ALPN) with these PEM files, reloaded when they change; with
   * `clientCaFile`, only clients presenting a certificate signed by that CA connect (mTLS).
   * Default: none (cleartext HTTP/1.1 and h2c).
   */
  tls?: TlsFiles;
  /** Admin authentication. Default: no admin token (keys only, once an admin key is stored). */
  auth?: {
    /**
     * The bootstrap admin token (TURNOUT_ADMIN_TOKEN or auth.admin_token_file): at least 16
     * characters; it authenticates as key id "bootstrap" with the admin role. Default: none.
     */
    adminToken?: string;
    /** Clock for key expiry and audit times, epoch ms. Default `Date.now`. */
    now?: () => number;
  };
}

/** A listening admin server. */
export interface AdminServer {
  /** `http://host:port` (`https://` with TLS). */
  readonly url: string;
  /** The bound port. */
  readonly port: number;
  /** Stops accepting and waits for open requests (see `DualServer.close`). */
  close(): Promise<void>;
}

type Fallback = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
type NodeServerRequest = Parameters<Fallback>[0];
type NodeServerResponse = Parameters<Fallback>[1];

/** Answers a plain-HTTP error in the Connect JSON error shape. */
function sendError(
  res: NodeServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ code, message });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** `/metrics`: the Prometheus text for a viewer (or anyone, while authentication is not enforced). */
async function serveMetrics(
  req: NodeServerRequest,
  res: NodeServerResponse,
  auth: AdminAuthenticator,
  text: () => string,
): Promise<void> {
  try {
    authorize(await auth.caller(req.headers.authorization), Role.VIEWER, "/metrics");
  } catch (err) {
    const e = err instanceof TurnoutError ? err : new TurnoutError(ErrorCode.Unavailable, "cannot check the key now");
    const status = e.code === ErrorCode.Unauthenticated ? 401 : e.code === ErrorCode.PermissionDenied ? 403 : 503;
    sendError(res, status, e.code, e.message, status === 401 ? { "www-authenticate": "Bearer" } : {});
    return;
  }
  const body = text();
  res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
  if (req.method === "HEAD") res.end();
  else res.end(body);
}

/**
 * Starts the admin server. Throws `failed_precondition` (naming TURNOUT_ADMIN_TOKEN) when `host`
 * is not loopback and nothing would authenticate callers; `invalid_argument` for an admin token
 * shorter than 16 characters; `internal` when a registered method has no role.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const log = options.logger.child({ component: "admin-server" });
  const host = options.host ?? "127.0.0.1";
  const { controlPlane } = options;
  const now = options.auth?.now;
  const auth = createAdminAuthenticator({ keys: controlPlane.keys, adminToken: options.auth?.adminToken, now });
  const open = !(await auth.enforced());
  const exposed = open ? adminExposureProblem(host) : undefined;
  if (exposed !== undefined) throw new TurnoutError(ErrorCode.FailedPrecondition, exposed);
  // Aborted by close(): ends server streams (WatchFleet, WatchMetrics) so closing does not wait them out.
  const shutdown = new AbortController();
  let unguarded: string[] = [];
  const handler = connectNodeAdapter({
    shutdownSignal: shutdown.signal,
    interceptors: [createAdminInterceptor({ authenticator: auth, audit: controlPlane.audit, logger: options.logger, now })],
    contextValues: (req) => createContextValues().set(REMOTE_ADDRESS, req.socket?.remoteAddress ?? ""),
    routes: (router) => {
      controlPlane.routes(router);
      registerReflection(router);
      unguarded = methodsWithoutRole(router.handlers);
    },
    fallback(req, res) {
      if (req.url !== undefined && isMetricsPath(req.url) && (req.method === "GET" || req.method === "HEAD")) {
        void serveMetrics(req, res, auth, () => controlPlane.metrics.prometheusText() + (options.extraMetrics?.() ?? ""));
        return;
      }
      sendError(res, 404, ErrorCode.NotFound, "no such admin procedure; see turnout.v1.AdminService");
    },
  });
  if (unguarded.length > 0)
    throw new TurnoutError(
      ErrorCode.Internal,
      `admin methods without a role (see control/auth/method-roles.ts): ${unguarded.join(", ")}`,
    );
  // Open requests, so close() can let ended streams leave their connections idle before closing.
  let inFlight = 0;
  let onIdle: (() => void) | undefined;
  const counted: typeof handler = (req, res) => {
    inFlight++;
    res.once("close", () => {
      if (--inFlight === 0) onIdle?.();
    });
    handler(req, res);
  };
  const server = await listenDual({ port: options.port, host, handler: counted, tls: options.tls, logger: options.logger });
  log.info({ url: server.url }, "admin server listening");
  if (open)
    log.warn(
      { url: server.url },
      "admin API open without credentials (loopback only): every caller is an anonymous admin until an admin key is created or TURNOUT_ADMIN_TOKEN is set",
    );
  return {
    url: server.url,
    port: server.port,
    async close() {
      shutdown.abort();
      if (inFlight > 0) {
        const idle = new Promise<void>((resolve) => (onIdle = resolve));
        await Promise.race([idle, new Promise<void>((resolve) => setTimeout(resolve, 1000).unref())]);
      }
      await server.close();
    },
  };
}
