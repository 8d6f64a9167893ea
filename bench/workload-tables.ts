/**
 * The bench's report: one table per workload (latency, Δ vs direct, proxy CPU per request and
 * its ratio to the bare undici proxy) and the verdict on the proxy's targets.
 */
import type { LoadResult } from "./load-generator.ts";
import type { Measured } from "./measure-rounds.ts";
import { deltaMs, formatTable, int, ms, ratio } from "./report-table.ts";
import type { StreamProbeResult } from "./stream-probe.ts";

const per = (cpuUs: number | undefined, n: number) => (cpuUs === undefined || n === 0 ? undefined : cpuUs / n);

/** Table of a non-streaming workload. */
export function loadTable(title: string, rows: Measured<LoadResult>[], extraNotes: string[]): string {
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

/** Table of the streaming workload (CPU per chunk = proxy CPU / NDJSON lines relayed). */
export function streamTable(title: string, rows: Measured<StreamProbeResult>[], extraNotes: string[]): string {
  const direct = rows.find((r) => r.target.name === "direct")?.result;
  const bare = rows.find((r) => r.target.name === "bare undici");
  const bareCpu = bare && per(bare.proxyCpuUs, bare.result.chunks);
  return formatTable(
    title,
    [
      "target",
      "streams/s",
      "TTFB p50",
      "TTFB p99",
      "gap p50",
      "gap p99",
      "total p50",
      "total p99",
      "Δtotal p99",
      "µs/stream",
      "µs/chunk",
      "CPU vs bare",
      "reads/stream",
      "errors",
    ],
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

/** The proxy's targets: Turnout core's CPU ≤ 1.25× the bare proxy's; Δp99 ≤ 3 ms over direct at 500 rps. */
export function verdict(
  chats: Measured<LoadResult>[],
  rated: Measured<LoadResult>[],
  streams: Measured<StreamProbeResult>[],
  connections: number,
  rate: number,
): string {
  const find = <R>(rows: Measured<R>[], name: string) => rows.find((r) => r.target.name === name);
  const cpuRatio = (rows: Measured<LoadResult>[], name = "turnout core") => {
    const t = find(rows, name);
    const b = find(rows, "bare undici");
    const tc = t && per(t.proxyCpuUs, t.result.ok);
    const bc = b && per(b.proxyCpuUs, b.result.ok);
    return tc !== undefined && bc ? tc / bc : undefined;
  };
  const lines = ["Targets (the routing proxy alone):"];
  const check = (label: string, value: number | undefined, limit: number, unit: string) =>
    lines.push(
      value === undefined
        ? `  ${label}: not measured`
        : `  ${label}: ${value.toFixed(unit === "×" ? 2 : 3)}${unit} (target ≤ ${limit}${unit}) ${value <= limit ? "PASS" : "FAIL"}`,
    );
  check(`Turnout core proxy CPU per request vs bare undici, chats c=${connections}`, cpuRatio(chats), 1.25, "×");
  check(`Turnout core proxy CPU per request vs bare undici, chats ${rate} rps`, cpuRatio(rated), 1.25, "×");
  const pc = cpuRatio(chats, "turnout");
  const pr = cpuRatio(rated, "turnout");
  if (pc !== undefined && pr !== undefined) {
    lines.push(
      `  turnout (+ status reports, outcomes batched to the log) CPU vs bare undici: ${pc.toFixed(2)}× at c=${connections}, ${pr.toFixed(2)}× at ${rate} rps (for information)`,
    );
  }
  const upC = cpuRatio(chats, "turnout up");
  const upR = cpuRatio(rated, "turnout up");
  if (upC !== undefined && upR !== undefined) {
    lines.push(
      `  turnout up (+ control plane's outcome consumer and live metrics in the same process) CPU vs bare undici: ${upC.toFixed(2)}× at c=${connections}, ${upR.toFixed(2)}× at ${rate} rps (for information)`,
    );
  }
  const ts = find(streams, "turnout core");
  const bs = find(streams, "bare undici");
  const tsc = ts && per(ts.proxyCpuUs, ts.result.chunks);
  const bsc = bs && per(bs.proxyCpuUs, bs.result.chunks);
  lines.push(
    tsc !== undefined && bsc
      ? `  Turnout core proxy CPU per stream chunk vs bare undici: ${(tsc / bsc).toFixed(2)}× (for information)`
      : "  stream CPU: not measured",
  );
  const t = find(rated, "turnout core")?.result.latency.p99;
  const d = find(rated, "direct")?.result.latency.p99;
  check(`Turnout core proxy Δp99 over direct at ${rate} rps`, t !== undefined && d !== undefined ? t - d : undefined, 3, " ms");
  return `${lines.join("\n")}\n`;
}
