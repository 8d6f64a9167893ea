/**
 * nginx as a reference proxy: a generated config (one worker, keep-alive upstream, no buffering,
 * HTTP/1.1 upstream) in a temp dir, run in the foreground as a bench child.
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { spawnChild, type BenchChild } from "./children.ts";

const run = promisify(execFile);

/** Path of the nginx binary (PATH, then /usr/sbin which npm scripts may not have), or undefined. */
export async function findNginx(): Promise<string | undefined> {
  for (const candidate of ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"]) {
    try {
      await run(candidate, ["-v"]);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function config(dir: string, port: number, upstream: URL): string {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream ollama {
    server ${upstream.host};
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://ollama;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`;
}

/** Starts nginx in front of `upstream`; `dir` holds its config, pid and logs. */
export async function startNginx(binary: string, upstream: string, dir: string): Promise<{ child: BenchChild; url: string }> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const file = join(dir, "nginx.conf");
  writeFileSync(file, config(dir, port, new URL(upstream)));
  const child = spawnChild("nginx", binary, ["-p", dir, "-e", join(dir, "error.log"), "-c", file], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  // nginx announces nothing when it is ready: poll its port, with a deadline.
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.process.exitCode !== null)
      throw new Error(`nginx exited with code ${child.process.exitCode} (see ${dir}/error.log)`);
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within 10 s`);
    await sleep(50);
  }
  return { child, url: `http://127.0.0.1:${port}` };
}
