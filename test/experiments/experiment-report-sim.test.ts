/**
 * End to end in embedded mode: two simulated variants (b: slower to first token and failing more
 * often), 2,000 users through the proxy in an experiment 50/50; the report finds both differences
 * in the right direction with the SRM check ok; a control-plane restart rebuilds the same report
 * from the outcome log; GetReport of an unknown id is NotFound.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Agent, request } from "undici";
import { ExperimentReportSchema, ExperimentService, ExperimentServiceCreateRequestSchema, type ExperimentReport } from "../../gen/turnout/v1/experiment_pb.js";
import { NodeSchema, RouteSchema, VariantSchema } from "../../gen/turnout/v1/routing_pb.js";
import { runExperimentCommand } from "../../src/cli/experiment-command.ts";
import { startAdminServer } from "../../src/control/admin-server.ts";
import { createControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createMemoryTransport, type MemoryTransport } from "../../src/transport/memory/memory-transport.ts";

const USERS = 2000;
const logger = createLogger({ level: "silent" });
let dir: string;
let simA: Simulator;
let simB: Simulator;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "turnout-exp-report-"));
  simA = await startSimulator({ models: ["m:a"], ttftMs: 5, outputTokens: 2, parallel: 64, errorRate: 0.02, seed: 3 });
  simB = await startSimulator({ models: ["m:b"], ttftMs: 25, outputTokens: 2, parallel: 64, errorRate: 0.1, seed: 4 });
});
after(async () => {
  await simA.close();
  await simB.close();
  await rm(dir, { recursive: true, force: true });
});

/** The embedded gateway over `dir` (bootstrapped on first start, kept by later ones). */
async function gateway() {
  const transport: MemoryTransport = createMemoryTransport({ dir, fsync: false });
  const bootstrap = {
    nodes: [create(NodeSchema, { id: "na", baseUrl: simA.url, models: ["m:a"] }), create(NodeSchema, { id: "nb", baseUrl: simB.url, models: ["m:b"] })],
    routes: [create(RouteSchema, { name: "chat", variants: [create(VariantSchema, { name: "a", model: "m:a" }), create(VariantSchema, { name: "b", model: "m:b" })], defaultVariant: "a" })],
  };
  const plane = await createControlPlane({ store: transport.store, bus: transport.bus, logger, bootstrap, outcomes: transport.outcomes, consumerName: "control" });
  const admin = await startAdminServer({ port: 0, host: "127.0.0.1", controlPlane: plane, logger });
  const proxy = await startProxy({ store: transport.store, port: 0, host: "127.0.0.1", logger, id: "p", bus: transport.bus, dataDir: join(dir, "proxy"), outcomes: transport.outcomes, refSecret: "report-test-secret-0123456789" });
  const client = createClient(ExperimentService, createConnectTransport({ baseUrl: admin.url, httpVersion: "1.1" }));
  return {
    plane,
    proxy,
    client,
    adminUrl: admin.url,
    async close() {
      await proxy.close();
      await admin.close();
      await plane.close();
      await transport.close();
    },
  };
}

/** The report's numbers without its timestamp. */
function numbers(r: ExperimentReport): unknown {
  const json = toJson(ExperimentReportSchema, r) as Record<string, unknown>;
  delete json.generatedAt;
  return json;
}

async function waitForOutcomes(client: ReturnType<typeof createClient<typeof ExperimentService>>, n: number): Promise<ExperimentReport> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { report } = await client.getReport({ id: "ab" });
    if (Number(report!.outcomes) >= n || Date.now() > deadline) return report!;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("2,000 users 50/50: the report finds b slower to first token with more errors, SRM ok; a restart changes no number", { timeout: 60_000 }, async () => {
  let gw = await gateway();
  try {
    await gw.plane.experiments.create(create(ExperimentServiceCreateRequestSchema, { id: "ab", name: "ab", route: "chat", duration: "24h", arms: [{ name: "a", weight: 50 }, { name: "b", weight: 50 }] }));
    const started = await gw.plane.experiments.start("ab");
    await gw.proxy.waitForVersion(started.snapshotVersion, AbortSignal.timeout(5000));

    const agent = new Agent({ connections: 64 });
    let next = 0;
    const statuses: number[] = [];
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < USERS) {
        const u = next++;
        const res = await request(`${gw.proxy.url}/api/chat`, {
          method: "POST",
          dispatcher: agent,
          headers: { "content-type": "application/json", "x-turnout-user": `user-${u}` },
          body: JSON.stringify({ model: "chat", stream: false, messages: [{ role: "user", content: "hi" }] }),
        });
        await res.body.text();
        statuses.push(res.statusCode);
      }
    }));
    await agent.close();
    assert.equal(statuses.length, USERS);

    const report = await waitForOutcomes(gw.client, USERS);
    assert.equal(Number(report.outcomes), USERS);
    const [a, b] = report.arms;
    assert.equal(Number(a.requests + b.requests), USERS);
    assert.ok(Number(a.users) > 800 && Number(b.users) > 800, `${a.users}/${b.users}`);
    assert.equal(report.sampleRatio!.warning, false, `SRM p=${report.sampleRatio!.pValue}`);
    assert.ok(b.ttftMs!.p50 > a.ttftMs!.p50, `ttft p50 ${a.ttftMs!.p50} vs ${b.ttftMs!.p50}`);
    assert.ok(b.errorRate > a.errorRate, `error rate ${a.errorRate} vs ${b.errorRate}`);
    const ttft = report.comparisons.find((c) => c.metric === "ttft_ms")!;
    assert.equal(ttft.outcome, "worse", ttft.verdict);
    assert.ok(ttft.lift > 0 && ttft.pValue < 0.05, `${ttft.lift} p=${ttft.pValue}`);
    const errors = report.comparisons.find((c) => c.metric === "error_rate")!;
    assert.equal(errors.outcome, "worse", errors.verdict);
    assert.deepEqual(report.phases.map((p) => p.users.map(Number)), [[Number(a.users), Number(b.users)]]);

    // restart the control plane (the whole embedded process) mid-experiment
    await gw.close();
    gw = await gateway();
    await gw.plane.metrics.rebuilt();
    const again = (await gw.client.getReport({ id: "ab" })).report!;
    assert.deepEqual(numbers(again), numbers(report));

    // WatchReport: the report at once, then again once it changed (feedback arrives); feedback
    // (the lead wires OutcomeBatch feedback to recordFeedback) shows up per arm
    const units = [...gw.plane.reports.tally.get("ab")!.arms].flatMap(([arm, t]) => [...t.units.keys()].map((k) => ({ arm, unitHash: Number(k.split(":")[1]) })));
    const watching = new AbortController();
    const seen: ExperimentReport[] = [];
    for await (const msg of gw.client.watchReport({ id: "ab", intervalSeconds: 1 }, { signal: AbortSignal.any([watching.signal, AbortSignal.timeout(10_000)]) })) {
      seen.push(msg.report!);
      if (seen.length === 1) {
        for (const u of units) gw.plane.reports.recordFeedback({ experiment: "ab", phase: 0, arm: u.arm, unitHash: u.unitHash, metric: "thumbs_up", value: u.arm === 0 ? 1 : 0 });
      } else break;
    }
    watching.abort();
    assert.deepEqual(numbers(seen[0]), numbers(report));
    const withFeedback = seen[1];
    assert.deepEqual(withFeedback.arms.map((a) => a.feedback.map((f) => [f.metric, f.mean, Number(f.users)])), [[["thumbs_up", 1, Number(a.users)]], [["thumbs_up", 0, Number(b.users)]]]);

    // the CLI prints it as a table
    const lines: string[] = [];
    assert.equal(await runExperimentCommand(["report", "ab", "--admin", gw.adminUrl], (l) => lines.push(l)), 0);
    assert.match(lines[0], /^experiment ab \(ab\)  RUNNING  outcomes 2000$/);
    assert.ok(lines.some((l) => /^ttft_ms\s+b\s/.test(l) && l.endsWith("worse")), lines.join("\n"));
    assert.ok(lines.some((l) => /^sample ratio: .* ok$/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("verdict: b is ")), lines.join("\n"));
    if (process.env.TURNOUT_PRINT_REPORT) console.log(lines.join("\n"));
    await assert.rejects(runExperimentCommand(["report", "nope", "--admin", gw.adminUrl], () => undefined), /^Error: NotFound: experiment "nope" does not exist/);

    await assert.rejects(gw.client.getReport({ id: "nope" }), (err: unknown) => err instanceof ConnectError && err.code === Code.NotFound);
  } finally {
    await gw.close();
  }
});
