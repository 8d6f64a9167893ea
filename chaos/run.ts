/**
 * `npm run chaos`: fault injection on a distributed Turnout, as an operator would try it (not part
 * of `npm test`). A nats-server, 2 control planes, 3 proxies and 3 simulated nodes as processes;
 * 150 concurrent mixed requests (Ollama and OpenAI, streamed and not) spread over the proxies;
 * an admin write every 600 ms. Then, one window each: kill -9 NATS, a proxy during the NATS
 * outage (restarted while NATS is still down), each control plane, a node mid-stream, and both
 * control planes together — each killed part started again. At the end the proxies stop cleanly
 * and the outcome stream is read back. It prints, per window, requests sent / ok / failed and
 * unterminated streams (on processes that were and were not killed), and in all: acknowledged
 * writes lost, outcomes of completed requests lost and duplicated, and the time from NATS coming
 * back to every proxy serving a new write. A request counts in the window it ended in. Exit code 1 when a number that must be 0 is not.
 *
 * `npm run chaos -- [--window-s 30] [--concurrency 150] [--write-ms 600] [--log-level warn]`
 */
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startAdminWriter } from "./admin-writer.ts";
import { countOutcomes } from "./outcome-audit.ts";
import { faultPlan, type Fault } from "./fault-plan.ts";
import { report, type WindowResult } from "./report.ts";
import { startTopology } from "./topology.ts";
import { startTraffic } from "./traffic.ts";

const { values } = parseArgs({
  options: {
    "window-s": { type: "string", default: "30" },
    concurrency: { type: "string", default: "150" },
    "write-ms": { type: "string", default: "600" },
    "log-level": { type: "string", default: "warn" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write("npm run chaos -- [--window-s 30] [--concurrency 150] [--write-ms 600] [--log-level warn]\n");
  process.exit(0);
}
const windowMs = Number(values["window-s"]) * 1000;
const concurrency = Number(values.concurrency);
const writeMs = Number(values["write-ms"]);
if (!(windowMs >= 5000) || !(concurrency >= 1) || !(writeMs >= 50)) {
  process.stderr.write("chaos: --window-s must be at least 5, --concurrency at least 1, --write-ms at least 50\n");
  process.exit(2);
}

const started = performance.now();
const progress = (line: string) =>
  process.stderr.write(`[chaos ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
const loadAtStart = loadavg()
  .map((l) => l.toFixed(2))
  .join(" ");

const dir = await mkdtemp(join(tmpdir(), "turnout-chaos-"));
let exitCode = 0;
const topology = await startTopology({ dir, controls: 2, proxies: 3, sims: 3, logLevel: values["log-level"] });
try {
  progress(
    `fleet up: nats ${topology.nats.url}, ${topology.controls.length} control planes, ${topology.proxies.length} proxies, ${topology.sims.length} nodes`,
  );
  const traffic = startTraffic(
    topology.proxies.map((p) => ({ name: p.name, url: p.url })),
    concurrency,
  );
  const writer = startAdminWriter(topology.controls, writeMs);
  const windows: { fault: Fault; from: number; to: number; note: string }[] = [];
  let convergenceMs: number | undefined;
  for (const fault of faultPlan(topology)) {
    const from = performance.now();
    progress(`window: ${fault.name}`);
    const note = await fault.run({
      windowMs,
      progress,
      onNatsBack: async () => {
        convergenceMs = await writer.writeAndConverge(30_000);
        progress(
          `NATS back: a write reached every proxy after ${convergenceMs === undefined ? "—" : convergenceMs.toFixed(0)} ms`,
        );
      },
    });
    const rest = windowMs - (performance.now() - from);
    if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
    windows.push({ fault, from, to: performance.now(), note });
  }
  progress("stopping the traffic and the writer");
  const records = await traffic.stop();
  await writer.stop();
  const lostWrites = await writer.lost();
  progress("stopping the proxies cleanly (their outcomes flushed), then reading the outcome stream");
  await Promise.all(topology.proxies.map((p) => p.stop()));
  const counts = await countOutcomes(topology.nats.url);

  const results: WindowResult[] = windows.map((w) => {
    const inWindow = records.filter((r) => r.end >= w.from && r.end < w.to);
    const killed = (r: (typeof records)[number]) => topology.downDuring(r.proxy, r.start, r.end);
    const why = new Map<string, number>();
    for (const r of inWindow) {
      if (r.completed || killed(r)) continue;
      const reason =
        r.error !== "" ? r.error : r.status !== 200 ? `HTTP ${r.status}` : r.unterminated ? "cut off" : "in-band error";
      why.set(`${r.proxy} ${reason}`, (why.get(`${r.proxy} ${reason}`) ?? 0) + 1);
    }
    return {
      name: w.fault.name,
      note: w.note,
      sent: inWindow.length,
      ok: inWindow.filter((r) => r.completed).length,
      failed: inWindow.filter((r) => !r.completed).length,
      failedOnKilled: inWindow.filter((r) => !r.completed && killed(r)).length,
      unterminatedSurvivors: inWindow.filter((r) => r.unterminated && !killed(r)).length,
      unterminatedKilled: inWindow.filter((r) => r.unterminated && killed(r)).length,
      survivorFailures: [...why].map(([reason, n]) => `${n}× ${reason}`).join(", "),
    };
  });
  const completed = records.filter((r) => r.completed);
  const lostOutcomes = completed.filter((r) => (counts.byRequest.get(r.requestId) ?? 0) === 0);
  const duplicated = [...counts.byRequest.values()].filter((n) => n > 1).length;
  const text = report({
    loadAtStart,
    loadAtEnd: loadavg()
      .map((l) => l.toFixed(2))
      .join(" "),
    concurrency,
    windowMs,
    windows: results,
    acked: writer.acked.length,
    failedWrites: writer.failed(),
    lostWrites,
    completed: completed.length,
    outcomes: counts.outcomes,
    lostOutcomes: lostOutcomes.map((r) => `${r.proxy}:${r.requestId}`),
    duplicated,
    convergenceMs,
  });
  process.stdout.write(text.text);
  if (!text.pass) exitCode = 1;
} catch (err) {
  progress(`FAILED: ${(err as Error).stack ?? err}`);
  exitCode = 1;
} finally {
  await topology.close();
  await rm(dir, { recursive: true, force: true });
}
process.exit(exitCode);
