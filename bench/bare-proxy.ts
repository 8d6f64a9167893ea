/**
 * The baseline: the least a Node reverse proxy can do — a node:http server and one undici Pool,
 * `pool.stream` piping the request body up and the response body down, headers copied once.
 * Turnout's proxy CPU per request is measured against this (target ≤ 1.25×).
 *
 * As an entry (`node bench/bare-proxy.ts --upstream http://127.0.0.1:P`) it serves on a free
 * port and reports its URL over IPC.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { announceReady } from "./children.ts";

/** Hop-by-hop headers, never forwarded (RFC 9110 §7.6.1). */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"]);

function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>) {
  const out: Record<string, string | string[]> = {};
  for (const key in headers) {
    const value = headers[key];
    if (value !== undefined && !HOP.has(key)) out[key] = value;
  }
  return out;
}

/** Starts the bare proxy in front of `upstream`. */
export async function startBareProxy(upstream: string, port = 0, host = "127.0.0.1") {
  const pool = new Pool(upstream, { connections: 256, headersTimeout: 0, bodyTimeout: 0 });
  const server: Server = createServer((req, res) => {
    pool.stream(
      { path: req.url ?? "/", method: req.method as "POST", headers: endToEnd(req.headers), body: req, opaque: res },
      ({ statusCode, headers, opaque }) => {
        const out = opaque as typeof res;
        out.writeHead(statusCode, endToEnd(headers));
        return out;
      },
      (err) => {
        if (!err) return;
        if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" }).end('{"error":"bad gateway"}');
        else res.destroy(err);
      },
    );
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${actual}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await pool.close();
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { upstream: { type: "string" } } });
  if (!values.upstream) throw new Error("bare-proxy: --upstream URL is required");
  const proxy = await startBareProxy(values.upstream);
  announceReady(proxy.url, () => proxy.close());
}
