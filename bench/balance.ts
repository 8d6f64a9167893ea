/**
 * `npm run bench:balance [-- --quick]`: p99 (and p50) time to first token through Turnout's
 * balancing versus random node choice, in one run, on a saturated fleet of simulated nodes of
 * unequal speed with 1 parallel slot each (a busy node queues, as Ollama with
 * OLLAMA_NUM_PARALLEL=1 does).
 *
 * Default fleet: 2 fast nodes (30 ms to first token, 200 tokens/s) and 2 slow ones (120 ms,
 * 50 tokens/s), 24-token answers — 150 ms vs 600 ms per request, 4× apart, about 16.7 answers/s
 * in all. A closed loop of 12 streaming clients (3 per node) keeps every node queued. Each
 * target (see balance-targets.ts) is started fresh, warmed up (its streams not measured: the
 * proxies learn the nodes' speed), measured, and stopped. Everything is on 127.0.0.1; tables go
 * to stdout, progress to stderr.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runBalanceLoad, type BalanceLoadResult } from "./balance-load.ts";
import { balanceTargets, ROUTE } from "./balance-targets.ts";
import { spawnChild } from "./children.ts";
import { formatTable, int, ratio } from "./report-table.ts";
import { speedArg, type FleetCountsMessage, type FleetReadyMessage, type SimNodeSpeed } from "./sim-fleet.ts";
import { fileURLToPath } from "node:url";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    concurrency: { type: "string", default: "12" },
    seconds: { type: "string" },
    "warmup-seconds": { type: "string" },
    only: { type: "string" },
    split: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:balance -- [--quick] [--concurrency 12] [--seconds 20] [--warmup-seconds 4] [--only N,N]
  --quick        ~40 s smoke run (8 s measured per target); default ~2 min (20 s per target)
  --concurrency  streaming clients kept in flight (closed loop)
  --only         run only these targets (1-based row numbers, e.g. 1,4)\n`);
  process.exit(0);
}

function positive(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    process.stderr.write(`bench: --${name} must be a number from 1 to ${max}, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}
const concurrency = Math.round(positive("concurrency", args.concurrency, 1024));
const seconds = positive("seconds", args.seconds ?? (args.quick ? "8" : "20"), 3600);
const split = args.split?.split(",").map(Number);
if (
  split !== undefined &&
  (split.some((n) => !Number.isInteger(n) || n < 0) || split.reduce((a, b) => a + b, 0) !== concurrency)
) {
  process.stderr.write(
    `bench: --split must be whole numbers of clients per proxy summing to --concurrency (${concurrency}), got ${JSON.stringify(args.split)}\n`,
  );
  process.exit(2);
}
const warmupSeconds = positive("warmup-seconds", args["warmup-seconds"] ?? (args.quick ? "3" : "4"), 600);

/** The fleet: 2 fast and 2 slow nodes, 4× apart in both time to first token and tokens/s. */
const FAST: SimNodeSpeed = { ttftMs: 30, tokensPerSecond: 200 };
const SLOW: SimNodeSpeed = { ttftMs: 120, tokensPerSecond: 50 };
const NODES = [FAST, FAST, SLOW, SLOW];
const OUTPUT_TOKENS = 24;
const TARGET_RATIO = 2;

const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);
const perRequestMs = (s: SimNodeSpeed) => s.ttftMs + (OUTPUT_TOKENS * 1000) / s.tokensPerSecond;
const capacity = NODES.reduce((sum, s) => sum + 1000 / perRequestMs(s), 0);

/** Starts the simulated fleet as one child process; answers its URLs and a request-count reader. */
async function startFleet() {
  const file = fileURLToPath(new URL("sim-fleet.ts", import.meta.url));
  const child = spawnChild(
    "sim-fleet",
    process.execPath,
    [file, "--output-tokens", String(OUTPUT_TOKENS), ...NODES.flatMap((s) => ["--node", speedArg(s)])],
    {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    },
  );
  const urls = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("bench: sim-fleet not ready after 20 s")), 20_000);
    child.process.on("message", (m: FleetReadyMessage) => {
      if (m?.type !== "fleet") return;
      clearTimeout(timer);
      resolve(m.urls);
    });
    child.process.once("exit", () => reject(new Error("bench: sim-fleet exited before it was ready")));
  });
  const counts = () =>
    new Promise<number[]>((resolve) => {
      const onMessage = (m: FleetCountsMessage) => {
        if (m?.type !== "counts") return;
        child.process.off("message", onMessage);
        resolve(m.requests);
      };
      child.process.on("message", onMessage);
      child.process.send({ type: "counts" });
    });
  return { child, urls, counts };
}

interface Row {
  name: string;
  about: string;
  result: BalanceLoadResult;
  /** Share of the measured run's requests each node received. */
  share: number[];
}

const dir = mkdtempSync(join(tmpdir(), "turnout-balance-"));
const removeDir = () => rmSync(dir, { recursive: true, force: true });
process.on("exit", removeDir);

const fleet = await startFleet();
progress(
  `fleet: ${NODES.map((s) => `${s.ttftMs} ms + ${s.tokensPerSecond} tok/s`).join(", ")}; ${OUTPUT_TOKENS} tokens per answer; capacity ${capacity.toFixed(1)} answers/s`,
);
progress(
  `load: ${concurrency} streaming clients (closed loop), ${warmupSeconds} s warm-up + ${seconds} s measured per target; ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(2)}`,
);

const only = args.only?.split(",").map((n) => Number(n) - 1);
const specs = balanceTargets(fleet.urls, dir).filter((_, i) => only === undefined || only.includes(i));
const body = JSON.stringify({ model: ROUTE, stream: true, messages: [{ role: "user", content: "Why is the sky blue?" }] });
const rows: Row[] = [];
try {
  for (const spec of specs) {
    progress(`${spec.name}: starting`);
    const target = await spec.start();
    try {
      const before = await fleet.counts();
      progress(`${spec.name}: ${target.urls.join(", ")}; running`);
      const result = await runBalanceLoad({
        urls: target.urls,
        split: target.urls.length > 1 ? split : undefined,
        body,
        concurrency,
        warmupMs: warmupSeconds * 1000,
        durationMs: seconds * 1000,
      });
      const after = await fleet.counts();
      const delta = after.map((n, i) => n - before[i]);
      const sum = delta.reduce((a, b) => a + b, 0) || 1;
      rows.push({ name: spec.name, about: spec.about, result, share: delta.map((n) => n / sum) });
      progress(
        `${spec.name}: ${result.ok} streams, TTFT p50 ${result.ttft.p50.toFixed(0)} ms, p99 ${result.ttft.p99.toFixed(0)} ms, ${result.errors} errors`,
      );
    } finally {
      await target.stop();
    }
  }
} finally {
  await fleet.child.stop();
}

const base = rows.find((r) => r.name === "random choice");
const fastShare = (r: Row) => r.share.reduce((sum, s, i) => sum + (NODES[i] === FAST ? s : 0), 0);
const msText = (v: number) => (Number.isFinite(v) ? `${int(v)} ms` : "—");
const table = formatTable(
  `Time to first token on a saturated fleet (${NODES.length} nodes, 1 slot each, 4× speed spread; ${concurrency} streaming clients; ${seconds} s measured)`,
  ["target", "streams/s", "TTFT p50", "TTFT p99", "p99: random ÷ this", "p50: random ÷ this", "to fast nodes", "errors"],
  rows.map((r) => [
    r.name,
    r.result.streamsPerSecond.toFixed(1),
    msText(r.result.ttft.p50),
    msText(r.result.ttft.p99),
    r === base ? "1.00×" : ratio(base?.result.ttft.p99, r.result.ttft.p99),
    r === base ? "1.00×" : ratio(base?.result.ttft.p50, r.result.ttft.p50),
    `${(fastShare(r) * 100).toFixed(0)} %`,
    String(r.result.errors),
  ]),
  [
    `capacity ${capacity.toFixed(1)} answers/s; a fast node answers in ${perRequestMs(FAST)} ms, a slow one in ${perRequestMs(SLOW)} ms; "to fast nodes" = share of requests the 2 fast nodes got`,
    `closed loop: the mean wait is fixed by throughput (clients ÷ streams/s), so a balancer that keeps every node busy has a longer median; random choice's median is short (fast nodes sit idle) and its tail waits behind slow nodes`,
    ...rows.map((r) => `${r.name}: ${r.about}`),
  ],
);
process.stdout.write(`\n${table}`);
if (base !== undefined) {
  for (const r of rows) {
    if (r === base) continue;
    const x = base.result.ttft.p99 / r.result.ttft.p99;
    process.stdout.write(
      `${r.name}: p99 time to first token ${x.toFixed(2)}× better than random choice — target ≥ ${TARGET_RATIO}×: ${x >= TARGET_RATIO ? "met" : "NOT met"}\n`,
    );
  }
}
