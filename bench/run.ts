/**
 * `npm run bench [-- --quick]`: Turnout's proxy against a bare undici proxy, nginx (when
 * installed) and no proxy at all, in one run, all in front of the same simulated Ollama node.
 *
 * Workloads, each run on every target in turn (after a short warm-up):
 *   1. small non-streaming chats at fixed concurrency (wrk, closed loop);
 *   2. small non-streaming chats at a fixed rate (open loop, 500 rps) — the Δp99 target;
 *   3. 50-chunk streams at fixed concurrency (stream probe: first byte, gaps, total).
 * Proxy CPU per request is the proxy process tree's user+sys CPU over the phase divided by the
 * requests it completed. Tables go to stdout, progress lines to stderr.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Samples } from "./latency-summary.ts";
import { runLoad, type LoadResult } from "./load-generator.ts";
import { chatBody, preflight } from "./preflight.ts";
import { processTreeCpuMicros } from "./process-cpu.ts";
import { deltaMs, formatTable, int, ms, ratio } from "./report-table.ts";
import { runStreamProbe, type StreamProbeResult } from "./stream-probe.ts";
import { startTargets, type Target } from "./targets.ts";
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
  --quick   ~20 s smoke run (short phases); default ~2 min
  LOG_LEVEL sets the Turnout proxy's log level (default warn)\n`);
  process.exit(0);
}

const plan = args.quick
  ? { warmupMs: 300, chatMs: 1000, rateMs: 1500, streamMs: 1000 }
  : { warmupMs: 1000, chatMs: 5000, rateMs: 6000, streamMs: 5000 };
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
const CHAT_TOKENS = 8;
const STREAM_CHUNKS = 50;

const started = performance.now();
const fmtLoad = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const loadAtStart = fmtLoad();
const progress = (line: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);

/** One target's measurement in one workload. */
interface Measured<R> {
  target: Target;
  result: R;
  /** Proxy process tree CPU over the phase, µs (undefined for direct). */
  proxyCpuUs?: number;
  /** Simulator CPU over the phase, µs. */
  simCpuUs: number;
}

const tmpDir = mkdtempSync(join(tmpdir(), "turnout-bench-"));
const useWrk = !args["no-wrk"] && (await haveWrk());
const env = await startTargets({ tmpDir, skipNginx: args["no-nginx"], progress }).catch((err: Error) => {
  progress(`FAILED to start the targets: ${err.stack ?? err}`);
  rmSync(tmpDir, { recursive: true, force: true });
  process.exit(1);
});
const notes = [...env.skipped];
let exitCode = 0;

/** Runs `phase` on `target` and charges the CPU its proxy and the simulator spent. */
async function measure<R>(target: Target, phase: () => Promise<R>): Promise<Measured<R>> {
  const proxy0 = target.pid === undefined ? 0 : processTreeCpuMicros(target.pid);
  const sim0 = processTreeCpuMicros(env.sim.pid);
  const result = await phase();
  const proxyCpuUs = target.pid === undefined ? undefined : processTreeCpuMicros(target.pid) - proxy0;
  return { target, result, proxyCpuUs, simCpuUs: processTreeCpuMicros(env.sim.pid) - sim0 };
}

const per = (cpuUs: number | undefined, n: number) => (cpuUs === undefined || n === 0 ? undefined : cpuUs / n);

function loadTable(title: string, rows: Measured<LoadResult>[], extraNotes: string[]): string {
  const direct = rows.find((r) => r.target.name === "direct")?.result.latency;
  const bare = rows.find((r) => r.target.name === "bare undici");
  const bareCpu = bare && per(bare.proxyCpuUs, bare.result.ok);
  return formatTable(
    title,
    ["target", "req/s", "p50 ms", "p99 ms", "Δp50 ms", "Δp99 ms", "proxy CPU µs/req", "CPU vs bare", "sim µs/req", "errors"],
    rows.map(({ target, result, proxyCpuUs, simCpuUs }) => {
      const cpu = per(proxyCpuUs, result.ok);
      const isDirect = target.name === "direct";
      return [
        target.name,
        int(result.rps),
        ms(result.latency.p50),
        ms(result.latency.p99),
        isDirect ? "" : deltaMs(result.latency.p50, direct?.p50),
        isDirect ? "" : deltaMs(result.latency.p99, direct?.p99),
        int(cpu),
        isDirect ? "" : ratio(cpu, bareCpu),
        int(per(simCpuUs, result.ok)),
        String(result.errors),
      ];
    }),
    extraNotes,
  );
}

function streamTable(title: string, rows: Measured<StreamProbeResult>[], extraNotes: string[]): string {
  const direct = rows.find((r) => r.target.name === "direct")?.result;
  const bare = rows.find((r) => r.target.name === "bare undici");
  const bareCpu = bare && per(bare.proxyCpuUs, bare.result.chunks);
  return formatTable(
    title,
    ["target", "streams/s", "TTFB p50", "TTFB p99", "gap p50", "gap p99", "total p50", "total p99", "Δtotal p99", "µs/stream", "µs/chunk", "CPU vs bare", "reads/stream", "errors"],
    rows.map(({ target, result, proxyCpuUs }) => {
      const isDirect = target.name === "direct";
      const perChunk = per(proxyCpuUs, result.chunks);
      return [
        target.name,
        int(result.streamsPerSecond),
        ms(result.ttfb.p50),
        ms(result.ttfb.p99),
        ms(result.gap.p50),
        ms(result.gap.p99),
        ms(result.total.p50),
        ms(result.total.p99),
        isDirect ? "" : deltaMs(result.total.p99, direct?.total.p99),
        int(per(proxyCpuUs, result.ok)),
        int(perChunk),
        isDirect ? "" : ratio(perChunk, bareCpu),
        result.ok === 0 ? "—" : (result.reads / result.ok).toFixed(1),
        String(result.errors),
      ];
    }),
    extraNotes,
  );
}

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

  // Workload 1: small chats at fixed concurrency (closed loop).
  const chats: Measured<LoadResult>[] = [];
  for (const target of targets) {
    const body = chatBody(target.model, false, CHAT_TOKENS);
    progress(`chats c=${connections}: ${target.name} (${useWrk ? "wrk" : "in-process generator"})`);
    await runLoad({ url: target.url, body, concurrency: connections, durationMs: plan.warmupMs });
    chats.push(
      await measure(target, () =>
        useWrk
          ? runWrk({ url: target.url, body, connections, durationMs: plan.chatMs, tmpDir })
          : runLoad({ url: target.url, body, concurrency: connections, durationMs: plan.chatMs }),
      ),
    );
  }

  // Workload 2: small chats at a fixed rate (open loop) — the latency a proxy adds when not
  // saturated. Split into rounds in rotating target order, so a burst of outside load on the
  // machine spreads over the targets instead of landing on one.
  const rounds = args.quick ? 1 : 3;
  const acc = new Map(targets.map((t) => [t, { samples: new Samples(), ok: 0, errors: 0, elapsedMs: 0, lag: 0, proxyCpuUs: 0, simCpuUs: 0 }]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(i + round) % targets.length];
      const body = chatBody(target.model, false, CHAT_TOKENS);
      const a = acc.get(target)!;
      progress(`chats ${rate} rps: ${target.name}${rounds > 1 ? ` (round ${round + 1}/${rounds})` : ""}`);
      if (round === 0) await runLoad({ url: target.url, body, rate, durationMs: plan.warmupMs });
      const m = await measure(target, () => runLoad({ url: target.url, body, rate, durationMs: plan.rateMs / rounds, samples: a.samples }));
      a.ok += m.result.ok;
      a.errors += m.result.errors;
      a.elapsedMs += m.result.elapsedMs;
      a.lag = Math.max(a.lag, m.result.lagP99Ms ?? 0);
      a.proxyCpuUs += m.proxyCpuUs ?? 0;
      a.simCpuUs += m.simCpuUs;
    }
  }
  const rated: Measured<LoadResult>[] = targets.map((target) => {
    const a = acc.get(target)!;
    const result = { ok: a.ok, errors: a.errors, elapsedMs: a.elapsedMs, rps: (a.ok * 1000) / a.elapsedMs, latency: a.samples.summary(), lagP99Ms: a.lag };
    return { target, result, proxyCpuUs: target.pid === undefined ? undefined : a.proxyCpuUs, simCpuUs: a.simCpuUs };
  });

  // Workload 3: 50-chunk streams, paced by the simulator so chunks arrive one by one.
  await env.setSimKnobs({ tokensPerSecond: streamTps });
  const streams: Measured<StreamProbeResult>[] = [];
  for (const target of targets) {
    const body = chatBody(target.model, true, STREAM_CHUNKS);
    progress(`streams c=${streamConcurrency}: ${target.name}`);
    await runStreamProbe({ url: target.url, body, concurrency: streamConcurrency, durationMs: plan.warmupMs });
    streams.push(await measure(target, () => runStreamProbe({ url: target.url, body, concurrency: streamConcurrency, durationMs: plan.streamMs })));
  }
  await env.setSimKnobs({ tokensPerSecond: 0 });

  const maxLag = Math.max(...rated.map((r) => r.result.lagP99Ms ?? 0));
  process.stdout.write(
    [
      `Turnout bench — Node ${process.version}, ${availableParallelism()} CPUs, all on 127.0.0.1; simulator in its own process` +
        ` (ttft 0); proxy log level ${process.env.LOG_LEVEL ?? "warn"}${args.quick ? "; --quick" : ""}`,
      `load average ${loadAtStart} at start, ${fmtLoad()} at end (other processes on these cores add noise, most of all to p99)`,
      "",
      loadTable(
        `1) Non-streaming chats (${CHAT_TOKENS} tokens), ${connections} connections, closed loop, ${plan.chatMs / 1000} s each (${useWrk ? "wrk" : "in-process generator"})`,
        chats,
        ["closed loop on shared cores: req/s is bounded by total CPU (load generator + proxy + simulator)"],
      ),
      loadTable(
        `2) Non-streaming chats (${CHAT_TOKENS} tokens), open loop at ${rate} rps, ${plan.rateMs / 1000} s each in ${rounds} round(s) (in-process undici generator)`,
        rated,
        [`generator send lag p99 ≤ ${ms(maxLag)} ms`],
      ),
      streamTable(
        `3) Streams of ${STREAM_CHUNKS} chunks at ${streamTps} tokens/s, ${streamConcurrency} in flight, ${plan.streamMs / 1000} s each (stream probe; times in ms)`,
        streams,
        ["µs/chunk = proxy CPU / NDJSON lines relayed; CPU vs bare compares µs/chunk"],
      ),
      verdict(chats, rated, streams),
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

/** The issue's targets: Turnout CPU ≤ 1.25× the bare proxy's; Δp99 ≤ 3 ms over direct at 500 rps. */
function verdict(chats: Measured<LoadResult>[], rated: Measured<LoadResult>[], streams: Measured<StreamProbeResult>[]): string {
  const find = <R>(rows: Measured<R>[], name: string) => rows.find((r) => r.target.name === name);
  const cpuRatio = (rows: Measured<LoadResult>[]) => {
    const t = find(rows, "turnout");
    const b = find(rows, "bare undici");
    const tc = t && per(t.proxyCpuUs, t.result.ok);
    const bc = b && per(b.proxyCpuUs, b.result.ok);
    return tc !== undefined && bc ? tc / bc : undefined;
  };
  const lines = ["Targets (issue 2):"];
  const check = (label: string, value: number | undefined, limit: number, unit: string) =>
    lines.push(
      value === undefined
        ? `  ${label}: not measured`
        : `  ${label}: ${value.toFixed(unit === "×" ? 2 : 3)}${unit} (target ≤ ${limit}${unit}) ${value <= limit ? "PASS" : "FAIL"}`,
    );
  check(`Turnout CPU per request vs bare undici, chats c=${connections}`, cpuRatio(chats), 1.25, "×");
  check(`Turnout CPU per request vs bare undici, chats ${rate} rps`, cpuRatio(rated), 1.25, "×");
  const ts = find(streams, "turnout");
  const bs = find(streams, "bare undici");
  const tsc = ts && per(ts.proxyCpuUs, ts.result.chunks);
  const bsc = bs && per(bs.proxyCpuUs, bs.result.chunks);
  lines.push(tsc !== undefined && bsc ? `  Turnout CPU per stream chunk vs bare undici: ${(tsc / bsc).toFixed(2)}× (for information)` : "  stream CPU: not measured");
  const t = find(rated, "turnout")?.result.latency.p99;
  const d = find(rated, "direct")?.result.latency.p99;
  check(`Turnout Δp99 over direct at ${rate} rps`, t !== undefined && d !== undefined ? t - d : undefined, 3, " ms");
  return lines.join("\n") + "\n";
}
