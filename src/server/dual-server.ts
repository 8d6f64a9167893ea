/**
 * One TCP port that serves HTTP/1.1 and HTTP/2 at once. In cleartext (h2c with prior knowledge)
 * each connection's first bytes are sniffed, since Node's `allowHTTP1` only negotiates over TLS:
 * the HTTP/2 preface goes to an `http2` server, anything else to an `http` server. With `tls`,
 * ALPN chooses (`h2`, else `http/1.1`), the same two servers serve the decrypted sockets, the
 * certificate is reloaded when its files change, and a client CA makes client certificates
 * mandatory (mTLS).
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import type { Logger } from "../log.ts";
import { type TlsFiles, readTlsFiles, watchTlsFiles } from "./tls-files.ts";

export type { TlsFiles } from "./tls-files.ts";

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
  /**
   * Serve TLS with these PEM files (HTTP/2 and HTTP/1.1 by ALPN), reloaded when they change.
   * A missing or unreadable file, or a key that does not match the certificate, fails the start
   * with `invalid_argument`. Default: none (cleartext, h2c sniffing).
   */
  tls?: TlsFiles;
  /** Logs certificate reloads (`component: "tls"`). Default: none (reloads are silent). */
  logger?: Logger;
}

/** A listening dual-protocol server. */
export interface DualServer {
  /** The bound port. */
  readonly port: number;
  /** `http://host:port`, or `https://host:port` with TLS. */
  readonly url: string;
  /** Stops accepting, waits up to `graceMs` (default 5000) for open requests, then destroys sockets. */
  close(graceMs?: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Where accepted connections go: the two protocol servers, and the set close() drains. */
interface Dispatch {
  h1: http.Server;
  h2: http2.Http2Server;
  /** Registers a connection to drain on close (a TCP socket, or the TLS socket over one). */
  track(socket: net.Socket): void;
}

/** Cleartext: sniffs each connection's first bytes for the HTTP/2 preface. */
function cleartextServer(d: Dispatch): net.Server {
  return net.createServer((socket) => {
    d.track(socket);
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
        d.h2.emit("connection", socket);
      } else {
        d.h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });
}

/**
 * TLS: ALPN picks the protocol (a client that offers none gets HTTP/1.1); with a client CA, a
 * client without a certificate it signed fails the handshake. `raw` collects the TCP sockets
 * (some still in their handshake), cut when close()'s grace period ends.
 */
function tlsServer(d: Dispatch, secure: tls.SecureContextOptions, requireClientCert: boolean, raw: Set<net.Socket>): tls.Server {
  const server = tls.createServer({
    ...secure,
    ALPNProtocols: ["h2", "http/1.1"],
    requestCert: requireClientCert,
    rejectUnauthorized: requireClientCert,
  });
  server.on("connection", (socket: net.Socket) => {
    raw.add(socket);
    socket.once("close", () => raw.delete(socket));
    socket.setNoDelay(true);
  });
  server.on("tlsClientError", (_err, socket) => socket.destroy());
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    d.track(socket);
    socket.on("error", () => socket.destroy());
    d[socket.alpnProtocol === "h2" ? "h2" : "h1"].emit("connection", socket);
  });
  return server;
}

/** Starts a server on one port that speaks HTTP/1.1 and HTTP/2 (h2c, or ALPN over TLS). */
export async function listenDual(options: DualServerOptions): Promise<DualServer> {
  const host = options.host ?? "127.0.0.1";
  const secure = options.tls === undefined ? undefined : readTlsFiles(options.tls); // fails the start, not a connection
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
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      if (sockets.size === 0) onDrained?.();
    });
  };
  const raw = new Set<net.Socket>();
  const server =
    secure === undefined
      ? cleartextServer({ h1, h2, track })
      : tlsServer({ h1, h2, track }, secure, options.tls?.clientCaFile !== undefined, raw);

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
  // Certificate renewal: changed files are read and, when they load, served to new connections.
  const files = options.tls;
  const log = options.logger?.child({ component: "tls" });
  const stopWatching =
    files === undefined || !(server instanceof tls.Server)
      ? () => {}
      : watchTlsFiles(
          files,
          (next) => server.setSecureContext({ ...next }),
          (result) => {
            if (result.ok) log?.info({ cert: files.certFile }, "reloaded the TLS certificate");
            else log?.warn({ error: result.error }, "TLS files changed but do not load; still serving the previous certificate");
          },
        );
  const address = server.address() as net.AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    port: address.port,
    url: `${secure === undefined ? "http" : "https"}://${urlHost}:${address.port}`,
    async close(graceMs = 5000) {
      stopWatching();
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
        for (const socket of [...sockets, ...raw]) socket.destroy();
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
