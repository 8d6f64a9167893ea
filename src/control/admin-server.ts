/**
 * The admin server: AdminService on its own port, separate from traffic. One port speaks Connect
 * (JSON or binary over HTTP/1.1, e.g. curl), gRPC over h2c (`buf curl --protocol grpc
 * --http2-prior-knowledge`, grpcurl -plaintext) and gRPC-web.
 */
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "../log.ts";
import { listenDual } from "../server/dual-server.ts";
import { registerReflection } from "../server/reflection/register-reflection.ts";
import { PROMETHEUS_CONTENT_TYPE, isMetricsPath } from "../stats/prometheus-text.ts";
import type { ControlPlane } from "./control-plane.ts";

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
}

/** A listening admin server. */
export interface AdminServer {
  /** `http://host:port`. */
  readonly url: string;
  /** The bound port. */
  readonly port: number;
  /** Stops accepting and waits for open requests (see `DualServer.close`). */
  close(): Promise<void>;
}

/** Starts the admin server. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const log = options.logger.child({ component: "admin-server" });
  const handler = connectNodeAdapter({
    routes: (router) => { options.controlPlane.routes(router); registerReflection(router); },
    fallback(req, res) {
      if (req.url !== undefined && isMetricsPath(req.url) && (req.method === "GET" || req.method === "HEAD")) {
        const body = options.controlPlane.metrics.prometheusText();
        res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
        if (req.method === "HEAD") res.end();
        else res.end(body);
        return;
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: "not_found", message: "no such admin procedure; see turnout.v1.AdminService" }));
    },
  });
  const server = await listenDual({ port: options.port, host: options.host, handler });
  log.info({ url: server.url }, "admin server listening");
  return {
    url: server.url,
    port: server.port,
    close: () => server.close(),
  };
}
