/**
 * Runs wrk (closed loop: a fixed number of connections, each sending its next request when the
 * last one answered) with a Lua script that POSTs a JSON body and prints its results as one JSON
 * line, so latencies keep wrk's microsecond precision.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { LoadResult } from "./load-generator.ts";

const run = promisify(execFile);

/** Options of {@link runWrk}. */
export interface WrkOptions {
  /** Target base URL. */
  url: string;
  /** Request path. Default "/api/chat". */
  path?: string;
  /** JSON request body (POST). */
  body: string;
  /** Request headers besides the content type (a client key's Authorization). Default none. */
  headers?: Record<string, string>;
  /** Open connections. */
  connections: number;
  /** Duration in milliseconds (wrk rounds to whole seconds, at least 1). */
  durationMs: number;
  /** Directory for the Lua script. */
  tmpDir: string;
  /** wrk threads. Default 1 (the machine's cores are shared with the proxy and upstream). */
  threads?: number;
}

const MARK = "WRKJSON ";

function luaScript(body: string, headers: Record<string, string>): string {
  const extra = Object.entries(headers)
    .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}\n`)
    .join("");
  return `wrk.method = "POST"
wrk.body = [==[${body}]==]
wrk.headers["Content-Type"] = "application/json"
${extra}done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARK}{"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`;
}

/** True when a `wrk` binary is on PATH. */
export async function haveWrk(): Promise<boolean> {
  try {
    await run("wrk", ["--version"]).catch((err: { stdout?: string }) => {
      // wrk --version prints its usage and exits 1.
      if (!String(err.stdout ?? "").includes("wrk")) throw err;
    });
    return true;
  } catch {
    return false;
  }
}

/** Runs wrk against `options.url` and converts its report to a {@link LoadResult}. */
export async function runWrk(options: WrkOptions): Promise<LoadResult> {
  const script = join(options.tmpDir, "post.lua");
  writeFileSync(script, luaScript(options.body, options.headers ?? {}));
  const seconds = Math.max(1, Math.round(options.durationMs / 1000));
  const { stdout } = await run(
    "wrk",
    [
      `-t${options.threads ?? 1}`,
      `-c${options.connections}`,
      `-d${seconds}s`,
      "--timeout",
      "10s",
      "-s",
      script,
      options.url + (options.path ?? "/api/chat"),
    ],
    { timeout: (seconds + 30) * 1000 },
  );
  const line = stdout.split("\n").find((l) => l.startsWith(MARK));
  if (!line) throw new Error(`wrk printed no result:\n${stdout}`);
  const r = JSON.parse(line.slice(MARK.length));
  const errors = r.connect + r.read + r.write + r.status + r.timeout;
  const ok = Math.max(0, r.requests - r.status - r.timeout);
  const elapsedMs = r.durationUs / 1000;
  return {
    ok,
    errors,
    elapsedMs,
    rps: (ok * 1000) / elapsedMs,
    latency: {
      count: r.requests,
      p50: r.p50 / 1000,
      p90: r.p90 / 1000,
      p99: r.p99 / 1000,
      max: r.max / 1000,
      mean: r.mean / 1000,
    },
  };
}
