/**
 * The convergence bench's report: the headline table (publish → last ACK and RPC percentiles with
 * the verdict against the target), the stage split, the slowest proxies and changes, and the CPU
 * and run-queue wait per change of each process group. Pure formatting over what the bench
 * measured.
 */
import { perProxyLag, STAGES, summarize, summarizeStage, type ChangeObservation } from "./convergence-stages.ts";
import { formatTable } from "./report-table.ts";

/** The target: p99 publish → last ACK on loopback, in ms. */
export const TARGET_P99_MS = 100;

/** Whole milliseconds, or "—": every timestamp here has 1 ms resolution (Date.now, pino, the tracker). */
export const ms = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(0));

/** CPU of one process group per change, idle rate already subtracted (ms). */
export interface GroupCpu {
  name: string;
  cpuPerChangeMs: number;
  waitPerChangeMs: number;
  /** CPU while idle (heartbeats, timers), ms per second. */
  idleCpuMsPerSecond: number;
}

/** Everything the report is made of. */
export interface ConvergenceReportInput {
  /** "SwitchModel" or "SetWeights". */
  operation: string;
  proxies: number;
  /** Changes attempted. */
  changes: number;
  /** Changes that converged, with their stage timestamps filled in. */
  observations: readonly ChangeObservation[];
  /** Changes that failed or converged short of every proxy. */
  failures: readonly string[];
  /** Proxies not serving the final version. */
  finalProblems: readonly string[];
  /** Per proxy: version → time of its "snapshot applied" record. */
  appliedBy: ReadonlyMap<string, ReadonlyMap<number, number>>;
  cpu: readonly GroupCpu[];
  /** How long the changes took, in s. */
  changesSeconds: number;
  cpus: number;
}

/** The report text and whether the run met the target (every change converged, every proxy on the last version). */
export function convergenceReport(input: ConvergenceReportInput): { text: string; pass: boolean } {
  const { observations } = input;
  const ack = summarize(observations.map((o) => o.publishToLastAckMs));
  const rtt = summarize(observations.map((o) => o.answeredAt - o.sentAt));
  const pass =
    input.failures.length === 0 && input.finalProblems.length === 0 && ack.count === input.changes && ack.p99 <= TARGET_P99_MS;
  const verdict =
    `${pass ? "PASS" : "FAIL"}: publish→last ACK p99 ${ms(ack.p99)} ms vs target ≤ ${TARGET_P99_MS} ms on loopback` +
    (input.failures.length > 0 ? `; ${input.failures.length} changes failed` : "") +
    (input.finalProblems.length > 0 ? `; ${input.finalProblems.length} proxies not on the final version` : "");

  const out: string[] = [];
  out.push(
    formatTable(
      `Convergence over NATS on 127.0.0.1 (${input.operation}, one change at a time, ms; p99 of ${input.changes} is the ${Math.ceil(0.99 * input.changes)}th smallest)`,
      ["proxies", "changes", "ACK p50", "ACK p90", "ACK p99", "ACK max", "RPC p50", "RPC p99"],
      [[String(input.proxies), String(ack.count), ms(ack.p50), ms(ack.p90), ms(ack.p99), ms(ack.max), ms(rtt.p50), ms(rtt.p99)]],
      [
        "ACK = publish → last ACK as the control plane's fleet tracker reports it (Convergence.publish_to_last_ack_ms)",
        "RPC = the admin write's round trip at the client, wait_for_fleet_ms included",
        verdict,
      ],
    ),
  );

  out.push(
    formatTable(
      "Where the time goes (ms, wall clock of one machine, 1 ms resolution)",
      ["stage", "n", "p50", "p90", "p99", "max"],
      STAGES.map((s) => {
        const x = summarizeStage(s, observations);
        return [s.name, String(x.count), ms(x.p50), ms(x.p90), ms(x.p99), ms(x.max)];
      }),
      ["compiled = the snapshot's created_at, which the tracker takes as the publish time"],
    ),
  );

  out.push(
    formatTable(
      `CPU per change (ms, /proc schedstat, idle rate subtracted; ${input.changes} changes in ${input.changesSeconds.toFixed(1)} s on ${input.cpus} CPUs)`,
      ["processes", "CPU/change", "run-queue wait/change", "idle CPU ms/s"],
      input.cpu.map((g) => [g.name, g.cpuPerChangeMs.toFixed(1), g.waitPerChangeMs.toFixed(1), g.idleCpuMsPerSecond.toFixed(1)]),
      ["run-queue wait = time runnable but waiting for a core, summed over the group's processes and threads"],
    ),
  );

  const lag = perProxyLag(
    input.appliedBy,
    observations.map((o) => o.version),
  ).slice(0, 5);
  out.push(
    formatTable(
      "Slowest proxies: applied after the first proxy, per change (ms)",
      ["proxy", "p50", "max"],
      lag.map((l) => [l.id, ms(l.p50), ms(l.max)]),
    ),
  );

  const worst = [...observations].sort((a, b) => b.publishToLastAckMs - a.publishToLastAckMs).slice(0, 5);
  out.push(
    formatTable(
      "Slowest changes (ms after the snapshot was compiled)",
      ["version", "last ACK", "KV written", "first applied", "last applied", "RPC"],
      worst.map((o) => [
        String(o.version),
        ms(o.publishToLastAckMs),
        ms((o.kvWrittenAt ?? NaN) - o.publishedAt),
        ms(Math.min(...o.appliedAt) - o.publishedAt),
        ms(Math.max(...o.appliedAt) - o.publishedAt),
        ms(o.answeredAt - o.sentAt),
      ]),
    ),
  );

  let text = out.join("\n");
  for (const f of input.failures.slice(0, 10)) text += `failed: ${f}\n`;
  if (input.failures.length > 10) text += `failed: … and ${input.failures.length - 10} more\n`;
  for (const p of input.finalProblems) text += `final check: ${p}\n`;
  return { text, pass };
}
