/**
 * End to end in embedded mode: two simulated variants (b: slower to first token and failing more
 * often), 2,000 users through the proxy in an experiment 50/50, with thumbs up/down sent through
 * POST /v1/feedback and ChatService.Feedback on their answers' refs; the report finds every
 * difference in the right direction with the SRM check ok and the feedback per arm exactly as
 * sent; a control-plane restart rebuilds the same report from the outcome log; GetReport of an
 * unknown id is NotFound.
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
import {
  ExperimentReportSchema,
  ExperimentService,
  ExperimentServiceCreateRequestSchema,
  type ExperimentReport,
} from "../../gen/turnout/v1/experiment_pb.js";
import { NodeSchema, RouteSchema, VariantSchema } from "../../gen/turnout/v1/routing_pb.js";
import { runExperimentCommand } from "../../src/cli/experiment-command.ts";
import { startAdminServer } from "../../src/control/admin/admin-server.ts";
import { createControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createSeededRandom } from "../../src/stats/seeded-random.ts";
import { createMemoryTransport, type MemoryTransport } from "../../src/transport/memory/memory-transport.ts";
import { until } from "../support/until.ts";

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
    nodes: [
      create(NodeSchema, { id: "na", baseUrl: simA.url, models: ["m:a"] }),
      create(NodeSchema, { id: "nb", baseUrl: simB.url, models: ["m:b"] }),
    ],
    routes: [
      create(RouteSchema, {
        name: "chat",
        variants: [create(VariantSchema, { name: "a", model: "m:a" }), create(VariantSchema, { name: "b", model: "m:b" })],
        defaultVariant: "a",
      }),
    ],
  };
  const plane = await createControlPlane({
    store: transport.store,
    bus: transport.bus,
    logger,
    bootstrap,
    outcomes: transport.outcomes,
    consumerName: "control",
  });
  const admin = await startAdminServer({ port: 0, host: "127.0.0.1", controlPlane: plane, logger });
  const proxy = await startProxy({
    store: transport.store,
    port: 0,
    host: "127.0.0.1",
    logger,
    id: "p",
    bus: transport.bus,
    dataDir: join(dir, "proxy"),
    outcomes: transport.outcomes,
    refSecret: "report-test-secret-0123456789",
  });
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

async function waitForReport(
  client: ReturnType<typeof createClient<typeof ExperimentService>>,
  what: string,
  done: (r: ExperimentReport) => boolean,
): Promise<ExperimentReport> {
  return until(
    what,
    async () => {
      const { report } = await client.getReport({ id: "ab" });
      return done(report!) && report!;
    },
    { timeoutMs: 20_000, intervalMs: 50 },
  );
}

/** Feedback counts of `metric` per arm in `r`. */
const feedbackCounts = (r: ExperimentReport, metric: string) =>
  r.arms.map((a) => Number(a.feedback.find((f) => f.metric === metric)?.count ?? 0));

test("2,000 users 50/50: the report finds b slower to first token with more errors and fewer thumbs-up sent through both feedback endpoints, SRM ok; a restart changes no number", {
  timeout: 90_000,
}, async () => {
  let gw = await gateway();
  try {
    await gw.plane.experiments.create(
      create(ExperimentServiceCreateRequestSchema, {
        id: "ab",
        name: "ab",
        route: "chat",
        duration: "24h",
        arms: [
          { name: "a", weight: 50 },
          { name: "b", weight: 50 },
        ],
      }),
    );
    const started = await gw.plane.experiments.start("ab");
    await gw.proxy.waitForVersion(started.snapshotVersion, AbortSignal.timeout(5000));

    // every user asks once, every fourth user twice; each first answer gets a thumbs up or down,
    // alternately through POST /v1/feedback and ChatService.Feedback: a likes 70 %, b 40 %
    const agent = new Agent({ connections: 64 });
    const rnd = createSeededRandom(21);
    const asks = Array.from({ length: USERS }, (_, u) => (u % 4 === 0 ? [u, u] : [u])).flat();
    const sent = { thumbs: [0, 0], ups: [0, 0], users: [new Set<number>(), new Set<number>()] };
    let next = 0;
    let failures = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < asks.length) {
          const i = next++;
          const u = asks[i];
          const res = await request(`${gw.proxy.url}/api/chat`, {
            method: "POST",
            dispatcher: agent,
            headers: { "content-type": "application/json", "x-turnout-user": `user-${u}` },
            body: JSON.stringify({ model: "chat", stream: false, messages: [{ role: "user", content: "hi" }] }),
          });
          await res.body.text();
          const ref = res.headers["x-turnout-ref"];
          assert.equal(typeof ref, "string", "every answer in the experiment carries a ref");
          if (res.statusCode !== 200) failures++;
          if (res.statusCode !== 200 || sent.users[0].has(u) || sent.users[1].has(u)) continue;
          const arm = res.headers["x-turnout-variant"] === "a" ? 0 : 1;
          const value = rnd.next() < (arm === 0 ? 0.7 : 0.4) ? 1 : 0;
          sent.users[arm].add(u);
          sent.thumbs[arm]++;
          sent.ups[arm] += value;
          const viaRpc = u % 2 === 1;
          const fb = await request(`${gw.proxy.url}${viaRpc ? "/turnout.v1.ChatService/Feedback" : "/v1/feedback"}`, {
            method: "POST",
            dispatcher: agent,
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ ref, metric: "thumbs_up", value }),
          });
          const body = await fb.body.text();
          assert.equal(fb.statusCode, viaRpc ? 200 : 202, body);
        }
      }),
    );
    await agent.close();
    assert.ok(failures > 0, "the simulators inject errors");

    const report = await waitForReport(
      gw.client,
      "every outcome and every thumb",
      (r) => Number(r.outcomes) >= asks.length && feedbackCounts(r, "thumbs_up").every((n, arm) => n >= sent.thumbs[arm]),
    );
    assert.equal(Number(report.outcomes), asks.length);
    const [a, b] = report.arms;
    assert.equal(Number(a.requests + b.requests), asks.length);
    // the unit is the user: 2,000 users, each counted once in its arm
    assert.equal(Number(a.users + b.users), USERS);
    assert.ok(Number(a.users) > 900 && Number(b.users) > 900, `${a.users}/${b.users}`);
    assert.equal(report.sampleRatio!.warning, false, `SRM p=${report.sampleRatio!.pValue}`);
    assert.ok(b.ttftMs!.p50 > a.ttftMs!.p50, `ttft p50 ${a.ttftMs!.p50} vs ${b.ttftMs!.p50}`);
    assert.ok(b.errorRate > a.errorRate, `error rate ${a.errorRate} vs ${b.errorRate}`);
    const ttft = report.comparisons.find((c) => c.metric === "ttft_ms")!;
    assert.equal(ttft.outcome, "worse", ttft.verdict);
    assert.ok(ttft.lift > 0 && ttft.pValue < 0.05, `${ttft.lift} p=${ttft.pValue}`);
    const errors = report.comparisons.find((c) => c.metric === "error_rate")!;
    assert.equal(errors.outcome, "worse", errors.verdict);
    assert.deepEqual(
      report.phases.map((p) => p.users.map(Number)),
      [[Number(a.users), Number(b.users)]],
    );

    // feedback per arm: exactly what was sent, joined to the same users as the outcomes
    const thumbs = report.arms.map((arm) => arm.feedback.find((f) => f.metric === "thumbs_up")!);
    for (const arm of [0, 1]) {
      assert.equal(Number(thumbs[arm].count), sent.thumbs[arm]);
      assert.equal(Number(thumbs[arm].users), sent.users[arm].size);
      assert.ok(Math.abs(thumbs[arm].mean - sent.ups[arm] / sent.thumbs[arm]) < 1e-12, `arm ${arm} mean ${thumbs[arm].mean}`);
    }
    const tally = gw.plane.reports.tally.get("ab")!;
    for (const [arm, t] of tally.arms)
      for (const key of t.feedback.keys()) assert.ok(t.units.has(key), `feedback unit ${key} of arm ${arm} is one of its users`);
    const liked = report.comparisons.find((c) => c.metric === "thumbs_up")!;
    assert.equal(liked.outcome, "worse", liked.verdict);
    assert.ok(liked.lift < -0.2 && liked.pValue < 0.001, `${liked.lift} p=${liked.pValue}`);
    assert.match(liked.verdict, /fewer thumbs-up/);

    // restart the control plane (the whole embedded process) mid-experiment
    await gw.close();
    gw = await gateway();
    await gw.plane.metrics.rebuilt();
    const again = (await gw.client.getReport({ id: "ab" })).report!;
    assert.deepEqual(numbers(again), numbers(report));

    // WatchReport: the report at once, then again once feedback (a score through the endpoint) changed it
    const watching = new AbortController();
    const seen: ExperimentReport[] = [];
    const scored = [...sent.users[1]][0];
    for await (const msg of gw.client.watchReport(
      { id: "ab", intervalSeconds: 1 },
      { signal: AbortSignal.any([watching.signal, AbortSignal.timeout(10_000)]) },
    )) {
      seen.push(msg.report!);
      if (seen.length === 1) {
        const res = await request(`${gw.proxy.url}/api/chat`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-turnout-user": `user-${scored}` },
          body: JSON.stringify({ model: "chat", stream: false, messages: [{ role: "user", content: "hi" }] }),
        });
        await res.body.text();
        const fb = await request(`${gw.proxy.url}/v1/feedback`, {
          method: "POST",
          body: JSON.stringify({ ref: res.headers["x-turnout-ref"], metric: "score", value: 4 }),
        });
        assert.equal(fb.statusCode, 202, await fb.body.text());
      } else if (msg.report!.arms[1].feedback.some((f) => f.metric === "score")) break;
    }
    watching.abort();
    assert.deepEqual(numbers(seen[0]), numbers(report));
    assert.deepEqual(
      seen.at(-1)!.arms[1].feedback.find((f) => f.metric === "score"),
      { $typeName: "turnout.v1.ExperimentFeedbackSummary", metric: "score", mean: 4, count: 1n, users: 1n },
    );

    // the CLI prints it as a table
    const lines: string[] = [];
    assert.equal(await runExperimentCommand(["report", "ab", "--admin", gw.adminUrl], (l) => lines.push(l)), 0);
    assert.match(lines[0], /^experiment ab \(ab\) {2}RUNNING {2}outcomes 2501$/);
    assert.ok(
      lines.some((l) => /^ttft_ms\s+b\s/.test(l) && l.endsWith("worse")),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((l) => /^thumbs_up\s+b\s/.test(l) && l.endsWith("worse")),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((l) => /^sample ratio: .* ok$/.test(l)),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((l) => l.startsWith("verdict: b is ")),
      lines.join("\n"),
    );
    if (process.env.TURNOUT_PRINT_REPORT) console.log(lines.join("\n"));
    await assert.rejects(
      runExperimentCommand(["report", "nope", "--admin", gw.adminUrl], () => undefined),
      /^Error: NotFound: experiment "nope" does not exist/,
    );

    await assert.rejects(
      gw.client.getReport({ id: "nope" }),
      (err: unknown) => err instanceof ConnectError && err.code === Code.NotFound,
    );
  } finally {
    await gw.close();
  }
});
