/**
 * The admin server: AdminService on its own port, separate from traffic. One port speaks Connect
 * (JSON or binary over HTTP/1.1, e.g. curl), gRPC over h2c (`buf curl --protocol grpc
 * --http2-prior-knowledge`, grpcurl -plaintext) and gRPC-web.
 */
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ErrorCode } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { type TlsFiles, listenDual } from "../../server/dual-server.ts";
import { registerReflection } from "../../server/reflection/register-reflection.ts";
import { PROMETHEUS_CONTENT_TYPE, isMetricsPath } from "../../stats/prometheus-text.ts";
import type { ControlPlane } from "../control-plane.ts";

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind. Default "127.0.0.1". */
  host?: string;
  /** The control plane whose AdminService is served. */
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
  /**
   * Admin credentials. `adminToken`: the bootstrap admin token (from `TURNOUT_ADMIN_TOKEN` or
   * `auth.admin_token_file`, at least 16 characters), accepted as key id `bootstrap` with role
   * admin and never stored. Default: none (no bootstrap token).
   */
  auth?: { adminToken?: string };
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

/** Starts the admin server. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const log = options.logger.child({ component: "admin-server" });
  // Aborted by close(): ends server streams (WatchFleet, WatchMetrics) so closing does not wait them out.
  const shutdown = new AbortController();
  const handler = connectNodeAdapter({
    shutdownSignal: shutdown.signal,
    routes: (router) => {
      options.controlPlane.routes(router);
      registerReflection(router);
    },
    fallback(req, res) {
      if (req.url !== undefined && isMetricsPath(req.url) && (req.method === "GET" || req.method === "HEAD")) {
        const body = options.controlPlane.metrics.prometheusText() + (options.extraMetrics?.() ?? "");
        res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
        if (req.method === "HEAD") res.end();
        else res.end(body);
        return;
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: ErrorCode.NotFound, message: "no such admin procedure; see turnout.v1.AdminService" }));
    },
  });
  // Open requests, so close() can let ended streams leave their connections idle before closing.
  let open = 0;
  let onIdle: (() => void) | undefined;
  const counted: typeof handler = (req, res) => {
    open++;
    res.once("close", () => {
      if (--open === 0) onIdle?.();
    });
    handler(req, res);
  };
  const server = await listenDual({
    port: options.port,
    host: options.host,
    handler: counted,
    tls: options.tls,
    logger: options.logger,
  });
  log.info({ url: server.url }, "admin server listening");
  return {
    url: server.url,
    port: server.port,
    async close() {
      shutdown.abort();
      if (open > 0) {
        const idle = new Promise<void>((resolve) => (onIdle = resolve));
        await Promise.race([idle, new Promise<void>((resolve) => setTimeout(resolve, 1000).unref())]);
      }
      await server.close();
    },
  };
}
