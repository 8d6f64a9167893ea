/**
 * The baseline: the least a Node reverse proxy can do — a node:http server and one undici Pool,
 * `pool.dispatch` with a small handler that pipes the request body up and the response body down
 * (with backpressure), headers copied once. No parsing, no routing, no accounting. Turnout's
 * proxy CPU per request is measured against this (target ≤ 1.25×).
 *
 * As an entry (`node bench/bare-proxy.ts --upstream http://127.0.0.1:P`) it serves on a free
 * port and reports its URL over IPC.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { Pool, type Dispatcher } from "undici";
import { announceReady } from "./children.ts";

/** Hop-by-hop headers, never forwarded (RFC 9110 §7.6.1). */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"]);

export function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key in headers) {
    const value = headers[key];
    if (value !== undefined && !HOP.has(key)) out[key] = value;
  }
  return out;
}

/** Relays one upstream answer to the client's response. */
export class Relay implements Dispatcher.DispatchHandler {
  res: ServerResponse;
  controller: Dispatcher.DispatchController | undefined;
  constructor(res: ServerResponse) {
    this.res = res;
  }
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }
  /** The client went away before the answer ended: abort the upstream request. */
  abort(): void {
    if (this.controller && !this.controller.aborted) this.controller.abort(new Error("client went away"));
  }
  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.res.writeHead(statusCode, endToEnd(headers));
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.res.write(chunk)) return;
    controller.pause();
    this.res.once("drain", () => controller.resume());
  }
  onResponseEnd(): void {
    this.res.end();
  }
  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.res.headersSent) this.res.destroy(err);
    else this.res.writeHead(502, { "content-type": "application/json" }).end('{"error":"bad gateway"}');
  }
}

/** Starts the bare proxy in front of `upstream`. */
export async function startBareProxy(upstream: string, port = 0, host = "127.0.0.1") {
  const pool = new Pool(upstream, { connections: 256, headersTimeout: 0, bodyTimeout: 0 });
  const server = createServer((req, res) => {
    const relay = new Relay(res);
    res.once("close", () => {
      if (!res.writableFinished) relay.abort();
    });
    pool.dispatch({ path: req.url ?? "/", method: req.method as "POST", headers: endToEnd(req.headers), body: req }, relay);
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
