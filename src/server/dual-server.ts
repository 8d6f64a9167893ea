/**
 * One TCP port that serves HTTP/1.1 and cleartext HTTP/2 (h2c with prior knowledge) at once.
 * Node's `allowHTTP1` only negotiates over TLS, so each connection's first bytes are sniffed: the
 * HTTP/2 preface goes to an `http2` server, anything else to an `http` server.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";

/** A request handler that serves both protocols (node's compat API). */
export type DualHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Options of {@link listenDual}. */
export interface DualServerOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind. Default "127.0.0.1". */
  host?: string;
  /** Serves every request of both protocols. */
  handler: DualHandler;
  /** HTTP/1.1 keep-alive timeout in ms. Default 65000. */
  keepAliveTimeoutMs?: number;
}

/** A listening dual-protocol server. */
export interface DualServer {
  /** The bound port. */
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /** Stops accepting, waits up to `graceMs` (default 5000) for open requests, then destroys sockets. */
  close(graceMs?: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Starts a server on one port that speaks HTTP/1.1 and h2c. */
export async function listenDual(options: DualServerOptions): Promise<DualServer> {
  const host = options.host ?? "127.0.0.1";
  const h1 = http.createServer({ keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000 }, options.handler);
  h1.headersTimeout = 60_000;
  h1.requestTimeout = 0;
  const h2 = http2.createServer({}, options.handler);
  const sockets = new Set<net.Socket>();
  let onDrained: (() => void) | undefined;
  const h2Sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    h2Sessions.add(session);
    session.once("close", () => h2Sessions.delete(session));
  });

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      if (sockets.size === 0) onDrained?.();
    });
    socket.setNoDelay(true);
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const looksH2 = head.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (looksH2 && head.length < PREFACE.length) return; // wait for the whole preface
      socket.off("data", onData);
      socket.pause();
      socket.unshift(head);
      if (looksH2) {
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // The http server never listens itself, but its connection tracking (idle-connection closing,
  // headers/request timeouts) starts on "listening": start it by hand.
  h1.emit("listening");
  const address = server.address() as net.AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    port: address.port,
    url: `http://${urlHost}:${address.port}`,
    async close(graceMs = 5000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      h1.closeIdleConnections();
      // Responses still running on HTTP/1.1 close their connection when done, and requests
      // arriving meanwhile are told to close too.
      // (`shouldKeepAlive` only counts before the headers went out, so a response already
      // streaming ends its socket on "finish".)
      for (const socket of sockets) {
        const res = (socket as { _httpMessage?: http.ServerResponse })._httpMessage;
        if (res) {
          res.shouldKeepAlive = false;
          res.once("finish", () => socket.destroySoon());
        }
      }
      h1.on("request", (_req: http.IncomingMessage, res: http.ServerResponse) => (res.shouldKeepAlive = false));
      for (const session of h2Sessions) session.close();
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      timer.unref();
      const drained = new Promise<void>((resolve) => {
        onDrained = resolve;
        if (sockets.size === 0) resolve();
      });
      h1.close(() => {}); // not listening itself: only stops its timers and idle connections
      await Promise.all([closed, drained]);
      clearTimeout(timer);
    },
  };
}
