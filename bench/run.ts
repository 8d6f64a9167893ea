/**
 * `npm run bench [-- --quick]`: Turnout's proxy against a bare undici proxy, nginx (when
 * installed) and no proxy at all, in one run, all in front of the same simulated Ollama node.
 *
 * Workloads, each run on every target in rotating rounds (after a short warm-up):
 *   1. small non-streaming chats at fixed concurrency (wrk, closed loop);
 *   2. small non-streaming chats at a fixed rate (open loop, 500 rps) — the Δp99 target;
 *   3. 50-chunk streams at fixed concurrency (stream probe: first byte, gaps, total).
 * Proxy CPU per request is the proxy process tree's CPU over the measured phases divided by the
 * requests it completed. Tables go to stdout, progress lines to stderr.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Samples } from "./latency-summary.ts";
import { runLoad } from "./load-generator.ts";
import { measureRounds } from "./measure-rounds.ts";
import { mergeLoad, mergeStreams } from "./merge-results.ts";
import { chatBody, preflight } from "./preflight.ts";
import { ms } from "./report-table.ts";
import { runStreamProbe, streamSamples, type StreamSamples } from "./stream-probe.ts";
import { startTargets, type Target } from "./targets.ts";
import { loadTable, streamTable, verdict } from "./workload-tables.ts";
import { haveWrk, runWrk } from "./wrk.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "no-nginx": { type: "boolean", default: false },
    "no-wrk": { type: "boolean", default: false },
    connections: { type: "string", default: "32" },
    rate: { type: "string", default: "500" },
    "stream-concurrency": { type: "string", default: "8" },
    "stream-tps": { type: "string", default: "1000" },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench -- [--quick] [--no-nginx] [--no-wrk] [--connections 32] [--rate 500]
                     [--stream-concurrency 8] [--stream-tps 1000]
  --quick   ~20 s smoke run (one short round per workload); default ~1.5 min (3 rounds)
  LOG_LEVEL sets the Turnout process's log level (default warn)\n`);
  process.exit(0);
}

function positive(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    process.stderr.write(`bench: --${name} must be an integer from 1 to ${max}, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}
const connections = positive("connections", args.connections, 1024);
const rate = positive("rate", args.rate, 20_000);
const streamConcurrency = positive("stream-concurrency", args["stream-concurrency"], 1024);
const streamTps = positive("stream-tps", args["stream-tps"], 100_000);

/** Per target and workload: warm-up, then `rounds` measured phases of the given length. */
const plan = args.quick
  ? { rounds: 1, warmupMs: 300, chatMs: 1000, rateMs: 1500, streamMs: 1000 }
  : { rounds: 3, warmupMs: 1000, chatMs: 2000, rateMs: 3000, streamMs: 2000 };
const CHAT_TOKENS = 8;
const STREAM_CHUNKS = 50;

const started = performance.now();
const progress = (line: string) =>
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
const fmtLoad = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const loadAtStart = fmtLoad();

const tmpDir = mkdtempSync(join(tmpdir(), "turnout-bench-"));
const useWrk = !args["no-wrk"] && (await haveWrk());
const env = await startTargets({ tmpDir, skipNginx: args["no-nginx"], progress }).catch((err: Error) => {
  progress(`FAILED to start the targets: ${err.stack ?? err}`);
  rmSync(tmpDir, { recursive: true, force: true });
  process.exit(1);
});
// Removed however the bench ends (SIGINT included: the signal handler exits without `finally`).
// Registered after the children's exit handler, so they are killed before their files go.
process.on("exit", () => rmSync(tmpDir, { recursive: true, force: true }));
const notes = [...env.skipped];
let exitCode = 0;

try {
  // Preflight: every target must answer both workloads correctly before it is measured.
  const targets: Target[] = [];
  for (const target of env.targets) {
    const problem = await preflight(target, STREAM_CHUNKS);
    if (problem) {
      notes.push(`${target.name}: left out, preflight failed: ${problem}`);
      progress(`${target.name}: preflight FAILED: ${problem}`);
      exitCode = 1;
    } else targets.push(target);
  }
  const common = { targets, simPid: env.sim.pid, rounds: plan.rounds, progress };
  const chat = (t: Target) => chatBody(t.model, false, CHAT_TOKENS, t.user);

  // Workload 1: small chats at fixed concurrency (closed loop).
  const chats = await measureRounds({
    ...common,
    label: `chats c=${connections}${useWrk ? " (wrk)" : ""}`,
    warmup: (t) =>
      runLoad({ url: t.url, body: chat(t), headers: t.headers, concurrency: connections, durationMs: plan.warmupMs }),
    phase: (t) =>
      useWrk
        ? runWrk({ url: t.url, body: chat(t), headers: t.headers, connections, durationMs: plan.chatMs, tmpDir })
        : runLoad({ url: t.url, body: chat(t), headers: t.headers, concurrency: connections, durationMs: plan.chatMs }),
    merge: (results) => mergeLoad(results, false),
  });

  // Workload 2: small chats at a fixed rate (open loop): the latency a proxy adds when not saturated.
  const rateSamples = new Map(targets.map((t) => [t, new Samples()]));
  const rated = await measureRounds({
    ...common,
    label: `chats ${rate} rps`,
    warmup: (t) => runLoad({ url: t.url, body: chat(t), headers: t.headers, rate, durationMs: plan.warmupMs }),
    phase: (t) =>
      runLoad({ url: t.url, body: chat(t), headers: t.headers, rate, durationMs: plan.rateMs, samples: rateSamples.get(t) }),
    merge: (results) => mergeLoad(results, true),
  });

  // Workload 3: 50-chunk streams, paced by the simulator so chunks arrive one by one.
  await env.setSimKnobs({ tokensPerSecond: streamTps });
  const stream = (t: Target) => chatBody(t.model, true, STREAM_CHUNKS, t.user);
  const streamSinks = new Map<Target, StreamSamples>(targets.map((t) => [t, streamSamples()]));
  const streams = await measureRounds({
    ...common,
    label: `streams c=${streamConcurrency}`,
    warmup: (t) =>
      runStreamProbe({
        url: t.url,
        body: stream(t),
        headers: t.headers,
        concurrency: streamConcurrency,
        durationMs: plan.warmupMs,
      }),
    phase: (t) =>
      runStreamProbe({
        url: t.url,
        body: stream(t),
        headers: t.headers,
        concurrency: streamConcurrency,
        durationMs: plan.streamMs,
        samples: streamSinks.get(t),
      }),
    merge: mergeStreams,
  });
  await env.setSimKnobs({ tokensPerSecond: 0 });

  const each = (phaseMs: number) => `${plan.rounds} × ${phaseMs / 1000} s each`;
  const maxLag = Math.max(...rated.map((r) => r.result.lagP99Ms ?? 0));
  process.stdout.write(
    [
      `Turnout bench — Node ${process.version}, ${availableParallelism()} CPUs, all on 127.0.0.1; simulator in its own process` +
        ` (ttft 0); turnout core = routing proxy alone, core + experiment = the same with a running A/B experiment, core + keys = the same with a client key (every limit set) on every request, turnout = + status reports and outcome log, turnout up = + control plane consuming outcomes into live metrics; log level ${process.env.LOG_LEVEL ?? "warn"}${args.quick ? "; --quick" : ""}`,
      `load average ${loadAtStart} at start, ${fmtLoad()} at end (other processes on these cores add noise, most of all to p99)`,
      "",
      loadTable(
        `1) Non-streaming chats (${CHAT_TOKENS} tokens), ${connections} connections, closed loop, ${each(plan.chatMs)} (${useWrk ? "wrk; latencies: median of rounds" : "in-process generator"})`,
        chats,
        ["closed loop on shared cores: req/s is bounded by total CPU (load generator + proxy + simulator)"],
      ),
      loadTable(
        `2) Non-streaming chats (${CHAT_TOKENS} tokens), open loop at ${rate} rps, ${each(plan.rateMs)} (in-process undici generator)`,
        rated,
        [`generator send lag p99 ≤ ${ms(maxLag)} ms`],
      ),
      streamTable(
        `3) Streams of ${STREAM_CHUNKS} chunks at ${streamTps} tokens/s, ${streamConcurrency} in flight, ${each(plan.streamMs)} (stream probe; times in ms)`,
        streams,
        ["µs/chunk = proxy CPU / NDJSON lines relayed; CPU vs bare compares µs/chunk"],
      ),
      verdict(chats, rated, streams, connections, rate),
      ...notes.map((n) => `note: ${n}`),
      "",
    ].join("\n"),
  );
} catch (err) {
  progress(`FAILED: ${(err as Error).stack ?? err}`);
  exitCode = 1;
} finally {
  await env.close();
  rmSync(tmpDir, { recursive: true, force: true });
}
progress("done");
process.exit(exitCode);
