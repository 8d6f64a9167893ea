/**
 * `npm run bench:convergence [-- --proxies 20 --changes 50 --op switch]`: how fast a routing
 * change reaches a fleet of proxies over NATS, on 127.0.0.1. Starts its own nats-server, one
 * simulated Ollama node, one `turnout control` and N `turnout proxy` processes; waits until
 * WatchFleet shows every proxy SYNCED; then makes the changes one after another — SwitchModel
 * alternating between two variants (or SetWeights alternating 90/10 and 10/90) — each with
 * `wait_for_fleet_ms`, and collects the control plane's publish → last ACK time
 * (`Convergence.publish_to_last_ack_ms`) and the client's RPC round trip. The children's own log
 * records split that time into stages (see convergence-stages.ts). Finally one chat per proxy
 * checks that every proxy serves the last version. Tables go to stdout, progress to stderr.
 * Target: p99 publish → last ACK ≤ 100 ms on loopback.
 */
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Convergence } from "../gen/turnout/v1/fleet_pb.js";
import {
  APPLIED_MSG,
  PUBLISHED_MSG,
  ROUTE,
  VARIANTS,
  startConvergenceFleet,
  type ConvergenceFleet,
} from "./convergence-fleet.ts";
import { convergenceReport, ms, type GroupCpu } from "./convergence-report.ts";
import { summarize, type ChangeObservation } from "./convergence-stages.ts";
import { schedDelta, schedSample, type SchedSample } from "./sched-stats.ts";

const WAIT_FOR_FLEET_MS = 10_000;
/** Client-side bound on one admin RPC (above the fleet wait). */
const RPC_TIMEOUT_MS = 15_000;
/** Bound on each final chat. */
const CHAT_TIMEOUT_MS = 10_000;
/** Length of the idle window whose CPU rate (heartbeats, timers) is subtracted from the changes'. */
const IDLE_WINDOW_MS = 2000;

const { values: args } = parseArgs({
  options: {
    proxies: { type: "string", default: "20" },
    changes: { type: "string", default: "50" },
    op: { type: "string", default: "switch" },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:convergence -- [--proxies 20] [--changes 50] [--op switch|weights]
  --op switch   SwitchModel alternating between the route's two variants (default)
  --op weights  SetWeights alternating 90/10 and 10/90
  Children log at LOG_LEVEL info to the bench (records used for the stage split).\n`);
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
const proxyCount = positive("proxies", args.proxies, 200);
const changeCount = positive("changes", args.changes, 10_000);
if (args.op !== "switch" && args.op !== "weights") {
  process.stderr.write(`bench: --op must be "switch" or "weights", got ${JSON.stringify(args.op)}\n`);
  process.exit(2);
}
const op = args.op;
const operation = op === "switch" ? "SwitchModel" : "SetWeights";

const started = performance.now();
const progress = (line: string) =>
  process.stderr.write(`[convergence ${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
// Ctrl-C / SIGTERM before the first child exists: exit (so exit hooks clean up) rather than die.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping children`);
    process.exit(130);
  });
}

/** Makes change `i` (0-based) and answers its snapshot version and convergence. */
async function makeChange(fleet: ConvergenceFleet, i: number): Promise<{ version: number; convergence?: Convergence }> {
  const call = { timeoutMs: RPC_TIMEOUT_MS };
  if (op === "switch") {
    const res = await fleet.admin.switchModel(
      { route: ROUTE, variant: VARIANTS[(i + 1) % 2], waitForFleetMs: WAIT_FOR_FLEET_MS },
      call,
    );
    return { version: Number(res.snapshotVersion), convergence: res.convergence };
  }
  const [a, b] = i % 2 === 0 ? [90, 10] : [10, 90];
  const res = await fleet.admin.setWeights(
    {
      route: ROUTE,
      weights: [
        { variant: VARIANTS[0], weight: a },
        { variant: VARIANTS[1], weight: b },
      ],
      waitForFleetMs: WAIT_FOR_FLEET_MS,
    },
    call,
  );
  return { version: Number(res.snapshotVersion), convergence: res.convergence };
}

/** One non-streaming chat to each proxy; answers the problems (empty = all serve `version`). */
async function checkProxies(fleet: ConvergenceFleet, version: number, variant: string | undefined): Promise<string[]> {
  const problems = await Promise.all(
    fleet.proxies.map(async (p) => {
      try {
        const res = await fetch(`${p.url}/api/chat`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: ROUTE, stream: false, messages: [{ role: "user", content: "hi" }] }),
          signal: AbortSignal.timeout(CHAT_TIMEOUT_MS),
        });
        await res.arrayBuffer();
        const snapshot = Number(res.headers.get("x-turnout-snapshot"));
        const served = res.headers.get("x-turnout-variant");
        if (res.status !== 200) return `${p.name}: HTTP ${res.status}`;
        if (snapshot !== version) return `${p.name}: serves snapshot ${snapshot}, expected ${version}`;
        if (variant !== undefined && served !== variant) return `${p.name}: served variant ${served}, expected ${variant}`;
        return undefined;
      } catch (err) {
        return `${p.name}: chat failed: ${(err as Error).message}`;
      }
    }),
  );
  return problems.filter((p): p is string => p !== undefined);
}

/** Per proxy: version → time of its "snapshot applied" record. */
function appliedTimes(fleet: ConvergenceFleet): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const p of fleet.proxies) {
    const times = new Map<number, number>();
    for (const r of p.records()) if (r.msg === APPLIED_MSG && r.fromDisk !== true) times.set(Number(r.version), r.time);
    out.set(p.name, times);
  }
  return out;
}

progress(`starting nats-server, simulator, control plane and ${proxyCount} proxies`);
let fleet: ConvergenceFleet;
try {
  fleet = await startConvergenceFleet({ proxies: proxyCount, progress });
} catch (err) {
  progress(`FAILED to start the fleet: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
progress(
  `all ${proxyCount} proxies SYNCED; making ${changeCount} changes (${operation}, wait_for_fleet_ms ${WAIT_FOR_FLEET_MS})`,
);

/** The process groups whose scheduler statistics are reported. */
function processGroups(f: ConvergenceFleet): [string, number[]][] {
  return [
    [`${proxyCount} proxies`, f.proxies.map((p) => p.child.pid)],
    ["control plane", [f.control.child.pid]],
    ["nats-server", [f.nats.pid()]],
    ["bench (client, simulator)", [process.pid]],
  ];
}
const sampleGroups = (f: ConvergenceFleet) => processGroups(f).map(([, pids]) => schedSample(pids));

/** Makes the changes one at a time; answers the converged ones and the failures. */
async function runChanges(f: ConvergenceFleet): Promise<{ observations: ChangeObservation[]; failures: string[] }> {
  const observations: ChangeObservation[] = [];
  const failures: string[] = [];
  for (let i = 0; i < changeCount; i++) {
    const sentAt = Date.now();
    try {
      const { version, convergence } = await makeChange(f, i);
      const answeredAt = Date.now();
      if (!convergence?.converged || convergence.publishedAt === undefined) {
        failures.push(`change ${i + 1} (version ${version}): answered without convergence`);
      } else {
        if (convergence.synced !== proxyCount || convergence.live !== proxyCount) {
          failures.push(
            `change ${i + 1} (version ${version}): converged on ${convergence.synced} of ${convergence.live} live proxies, expected ${proxyCount}`,
          );
        }
        const publishedAt = timestampMs(convergence.publishedAt);
        observations.push({
          version,
          sentAt,
          answeredAt,
          publishedAt,
          publishToLastAckMs: convergence.publishToLastAckMs,
          appliedAt: [],
        });
      }
    } catch (err) {
      const e = ConnectError.from(err);
      failures.push(`change ${i + 1}: ${Code[e.code]}: ${e.rawMessage}`);
    }
    if ((i + 1) % 10 === 0 || i + 1 === changeCount) {
      const recent = summarize(observations.slice(-10).map((o) => o.publishToLastAckMs));
      progress(
        `${i + 1}/${changeCount} changes; last 10: publish→last ACK p50 ${ms(recent.p50)} max ${ms(recent.max)} ms; ${failures.length} failed`,
      );
    }
  }
  return { observations, failures };
}

let exitCode = 0;
try {
  // Idle CPU rate first (heartbeats, timers), to subtract from the changes'. A measuring window, not a wait for an event.
  const idleFrom = sampleGroups(fleet);
  const idleStart = performance.now();
  await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
  const idleSeconds = (performance.now() - idleStart) / 1000;
  const idle = sampleGroups(fleet).map((after, i) => schedDelta(idleFrom[i], after));

  const changesFrom = sampleGroups(fleet);
  const changesStart = performance.now();
  const { observations, failures } = await runChanges(fleet);
  const changesSeconds = (performance.now() - changesStart) / 1000;
  const changesCpu = sampleGroups(fleet).map((after, i) => schedDelta(changesFrom[i], after));

  const finalVersion = observations.at(-1)?.version ?? 0;
  const finalVariant = op === "switch" ? VARIANTS[changeCount % 2] : undefined;
  const finalProblems = finalVersion > 0 ? await checkProxies(fleet, finalVersion, finalVariant) : ["no change succeeded"];
  progress(
    finalProblems.length === 0
      ? `all ${proxyCount} proxies serve snapshot ${finalVersion}`
      : `final check FAILED: ${finalProblems.length} problems`,
  );

  // Stage timestamps from the children's log records (they arrived over pipes while the bench ran).
  const kvWritten = new Map<number, number>();
  for (const r of fleet.control.records()) if (r.msg === PUBLISHED_MSG) kvWritten.set(Number(r.version), r.time);
  const appliedBy = appliedTimes(fleet);
  for (const o of observations) {
    o.kvWrittenAt = kvWritten.get(o.version);
    for (const times of appliedBy.values()) {
      const t = times.get(o.version);
      if (t !== undefined) o.appliedAt.push(t);
    }
  }

  const perChange = (used: SchedSample, idleUsed: SchedSample, field: keyof SchedSample) =>
    (used[field] - (idleUsed[field] / idleSeconds) * changesSeconds) / changeCount;
  const cpu: GroupCpu[] = processGroups(fleet).map(([name], i) => ({
    name,
    cpuPerChangeMs: perChange(changesCpu[i], idle[i], "cpuMs"),
    waitPerChangeMs: perChange(changesCpu[i], idle[i], "waitMs"),
    idleCpuMsPerSecond: idle[i].cpuMs / idleSeconds,
  }));
  const report = convergenceReport({
    operation,
    proxies: proxyCount,
    changes: changeCount,
    observations,
    failures,
    finalProblems,
    appliedBy,
    cpu,
    changesSeconds,
    cpus: availableParallelism(),
  });
  process.stdout.write(`\n${report.text}`);
  if (!report.pass) exitCode = 1;
} catch (err) {
  progress(`FAILED: ${(err as Error).stack ?? err}`);
  exitCode = 1;
} finally {
  progress("stopping children");
  await fleet.close();
}
process.exit(exitCode);
