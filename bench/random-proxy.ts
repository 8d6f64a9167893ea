/**
 * The balancing baseline: bench/bare-proxy.ts's relay in front of several nodes, each request
 * sent to a node chosen uniformly at random (one undici Pool per node). No load information at
 * all — what DNS round robin or a naive client-side pick gives.
 *
 * As an entry (`node bench/random-proxy.ts --upstream URL --upstream URL ...`) it serves on a free
 * port and reports its URL over IPC.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { endToEnd, Relay } from "./bare-proxy.ts";
import { announceReady } from "./children.ts";

/** Starts the random-choice proxy in front of `upstreams`. */
export async function startRandomProxy(upstreams: readonly string[], port = 0, host = "127.0.0.1") {
  if (upstreams.length === 0) throw new Error("random-proxy: at least one upstream is required");
  const pools = upstreams.map((u) => new Pool(u, { connections: 256, headersTimeout: 0, bodyTimeout: 0 }));
  const server = createServer((req, res) => {
    const relay = new Relay(res);
    res.once("close", () => {
      if (!res.writableFinished) relay.abort();
    });
    const pool = pools[(Math.random() * pools.length) | 0];
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
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { upstream: { type: "string", multiple: true, default: [] } } });
  const proxy = await startRandomProxy(values.upstream);
  announceReady(proxy.url, () => proxy.close());
}
