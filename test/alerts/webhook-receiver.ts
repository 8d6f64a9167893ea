/**
 * A webhook receiver for the alert tests: a real HTTP server on port 0 that records every POST
 * (path, parsed JSON body, arrival time) and answers as the test scripts it — a status with
 * headers per request, or never (hang).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request received. */
export interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: any;
  /** `performance.now()` when the body had arrived. */
  at: number;
}

/** How to answer request number `n` (0-based): a status (and headers), or "hang" (never answer). */
export type Answer = { status: number; headers?: Record<string, string> } | "hang";

export interface Receiver {
  /** `http://127.0.0.1:port`. */
  url: string;
  received: Received[];
  /** Resolves once `count` requests arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Starts a receiver; `answer(n, req)` decides each reply (default 200). */
export async function startReceiver(answer: (n: number, req: Received) => Answer = () => ({ status: 200 })): Promise<Receiver> {
  const received: Received[] = [];
  const waiters: { count: number; resolve(): void }[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      const r: Received = { path: req.url ?? "", headers: req.headers, body, at: performance.now() };
      const n = received.length;
      received.push(r);
      for (const w of waiters.filter((w) => received.length >= w.count)) w.resolve();
      const a = answer(n, r);
      if (a === "hang") {
        hanging.push(res);
        return;
      }
      res.writeHead(a.status, { "content-type": "text/plain", ...a.headers });
      res.end(a.status < 300 ? "ok" : "no");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    waitFor(count, timeoutMs = 10_000) {
      if (received.length >= count) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${received.length} of ${count} webhook requests within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(received);
          },
        });
      });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
