/**
 * `npm run bench:limits [-- --window-ms 60000 --limit 600 --proxies 3 --concurrency 16]`: a
 * client key of `--limit` requests per minute, used through `--proxies` proxies on a real
 * nats-server with the traffic spread evenly (round-robin, as fast as the proxies answer), for one
 * window; prints how many requests the fleet allowed in it. The target is the limit, up to 10 %
 * more (a fleet enforces one limit, not one per proxy). `--window-ms` shortens the window (and the
 * run) for a quick check: the key then allows `--limit` per window, the same code path otherwise.
 */
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { driveEvenly, startLimitsFleet } from "./limits-fleet.ts";

const { values: args } = parseArgs({
  options: {
    "window-ms": { type: "string", default: "60000" },
    limit: { type: "string", default: "600" },
    proxies: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:limits -- [--window-ms 60000] [--limit 600] [--proxies 3] [--concurrency 16]
  --window-ms    the limit's window and the run's length (default one minute)
  --limit        requests per window of the key (default 600)
  --proxies      proxies sharing the limit over NATS (default 3)
  --concurrency  requests in flight at once (default 16)\n`);
  process.exit(0);
}

function positive(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    process.stderr.write(`bench:limits: --${name} must be an integer from 1 to ${max}, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}
const windowMs = positive("window-ms", args["window-ms"], 3_600_000);
const limit = positive("limit", args.limit, 1_000_000);
const proxies = positive("proxies", args.proxies, 64);
const concurrency = positive("concurrency", args.concurrency, 1024);

const started = performance.now();
const progress = (line: string) =>
  process.stderr.write(`[bench:limits ${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const loadAtStart = load();

const fleet = await startLimitsFleet({ proxies, limit, windowMs, progress });
let exitCode = 0;
try {
  progress(`driving one key of ${limit} per ${windowMs / 1000} s over ${proxies} proxies for one window`);
  const r = await driveEvenly({ urls: fleet.urls, token: fleet.tokens[0], durationMs: windowMs, concurrency });
  const allowed = r.allowed.reduce((a, b) => a + b, 0);
  const high = Math.floor(limit * 1.1);
  const ok = allowed >= limit && allowed <= high && r.other === 0;
  if (!ok) exitCode = 1;
  process.stdout.write(
    [
      `Turnout per-key limits — Node ${process.version}, ${availableParallelism()} CPUs, all on 127.0.0.1; ${proxies} proxies (one process, one NATS connection each) on nats-server, simulator in process`,
      `load average ${loadAtStart} at start, ${load()} at end (other processes on these cores add noise)`,
      "",
      `key of ${limit} requests per ${windowMs === 60_000 ? "minute" : `${windowMs} ms window`}, traffic spread evenly, ${concurrency} in flight:`,
      `  allowed ${allowed} in the window (${r.allowed.join(" + ")} by proxy) — target ${limit}..${high}: ${ok ? "met" : "MISSED"}`,
      `  refused ${r.refused} (429)${r.other > 0 ? `, ${r.other} other answers` : ""}`,
      "",
    ].join("\n"),
  );
} catch (err) {
  progress(`FAILED: ${(err as Error).stack ?? err}`);
  exitCode = 1;
} finally {
  await fleet.close();
}
process.exit(exitCode);
