import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import type { Feedback } from "../../gen/turnout/v1/events_pb.js";
import { ExperimentServiceCreateRequestSchema } from "../../gen/turnout/v1/experiment_pb.js";
import { signRef, verifyRef } from "../../src/assign/feedback-ref.ts";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import type { FeedbackEntry } from "../../src/proxy/feedback/accept-feedback.ts";
import { startProxy, type Proxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import { createFileOutcomeLog, type FileOutcomeLog } from "../../src/transport/memory/file-outcome-log.ts";
import type { KvStore } from "../../src/transport/types.ts";
import { experimentState } from "./experiment-fixtures.ts";
import { until } from "../support/until.ts";

const SECRET = "feedback-test-secret-0123456789";
const CONSUMER = "control-feedback-test";
const logger = createLogger({ level: "silent" });
let dir: string;
let sim: Simulator;
let store: KvStore;
let log: FileOutcomeLog;
let plane: ControlPlane;
let proxy: Proxy;
let client: Client<typeof ChatService>;
/** What the control plane's onFeedback hook saw, per control-plane run. */
let seen: Feedback[] = [];
/** What the proxy accepted. */
const accepted: FeedbackEntry[] = [];

function startPlane(): Promise<ControlPlane> {
  seen = [];
  return createControlPlane({ store, logger, outcomes: log, consumerName: CONSUMER, onFeedback: (f) => seen.push(f) });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "turnout-feedback-"));
  sim = await startSimulator({ models: ["qwen3:0.6b", "qwen3:1.7b", "qwen3:4b"], outputTokens: 2 });
  store = createFileKvStore({ dir: join(dir, "kv"), fsync: false });
  log = createFileOutcomeLog({ dir: join(dir, "outcomes"), fsync: false });
  plane = await createControlPlane({
    store,
    logger,
    bootstrap: experimentState(sim.url),
    outcomes: log,
    consumerName: CONSUMER,
    onFeedback: (f) => seen.push(f),
  });
  proxy = await startProxy({
    store,
    port: 0,
    logger,
    id: "fb-proxy",
    closeGraceMs: 200,
    refSecret: SECRET,
    outcomes: log,
    onFeedback: (f) => accepted.push(f),
  });
  client = createClient(ChatService, createConnectTransport({ baseUrl: proxy.url, httpVersion: "1.1" }));
  await plane.experiments.create(
    create(ExperimentServiceCreateRequestSchema, {
      id: "fb",
      name: "fb",
      duration: "24h",
      route: "chat",
      arms: [
        { name: "b", weight: 50 },
        { name: "c", weight: 50 },
      ],
    }),
  );
  const started = await plane.experiments.start("fb");
  await proxy.waitForVersion(started.snapshotVersion, AbortSignal.timeout(5000));
});
after(async () => {
  await proxy?.close();
  await plane?.close();
  await log?.close();
  await store?.close();
  await sim?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A real answer in the experiment: its ref and what the ref says. */
async function answer(user: string) {
  const res = await fetch(`${proxy.url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-turnout-user": user },
    body: JSON.stringify({ model: "chat", messages: [{ role: "user", content: "hi" }], stream: false }),
  });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  const ref = res.headers.get("x-turnout-ref");
  assert.ok(ref, "an answer in the experiment carries x-turnout-ref");
  const v = verifyRef(ref, SECRET);
  assert.ok(v.ok);
  return { ref, fields: v.fields, variant: res.headers.get("x-turnout-variant") };
}

/** POST /v1/feedback with `body` (and optional headers); status and parsed JSON. */
async function postFeedback(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${proxy.url}/v1/feedback`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** ChatService.Feedback; the ConnectError when it fails. */
async function rpcFeedback(ref: string, metric: string, value: number, headers?: Record<string, string>) {
  try {
    return { ok: await client.feedback({ ref, metric, value }, { headers }) };
  } catch (err) {
    return { err: ConnectError.from(err) };
  }
}

/** Flips one character of `s` at `at` to another base64url character. */
function alter(s: string, at: number): string {
  return s.slice(0, at) + (s[at] === "A" ? "B" : "A") + s.slice(at + 1);
}

describe("feedback through the proxy", () => {
  test("feedback on a real answer's ref through POST /v1/feedback and ChatService.Feedback is accepted and reaches the control plane's consumer with the experiment and arm", async () => {
    const one = await answer("fb-user-1");
    const two = await answer("fb-user-2");
    const three = await answer("fb-user-3");
    const http = await postFeedback({ ref: one.ref, metric: "thumbs_up", value: 1 });
    assert.equal(http.status, 202);
    assert.deepEqual(http.json, { accepted: true, experiment: "fb", arm: one.fields.arm });
    const viaHeader = await postFeedback({ metric: "task_completed", value: 1 }, { "x-turnout-ref": three.ref });
    assert.equal(viaHeader.status, 202, JSON.stringify(viaHeader.json));
    const rpc = await rpcFeedback(two.ref, "score", 4.5);
    assert.ok(rpc.ok, rpc.err?.message);
    assert.deepEqual([rpc.ok.accepted, rpc.ok.experiment, rpc.ok.arm], [true, "fb", two.fields.arm]);
    const rpcHeader = await rpcFeedback("", "thumbs_up", 0, { "x-turnout-ref": three.ref });
    assert.ok(rpcHeader.ok, rpcHeader.err?.message);

    await until("4 feedback entries at the control plane", () => seen.length >= 4);
    assert.equal(seen.length, 4);
    const byRequest = new Map(seen.map((f) => [`${f.requestId}/${f.metric}`, f]));
    for (const [a, metric, value] of [
      [one, "thumbs_up", 1],
      [two, "score", 4.5],
      [three, "task_completed", 1],
      [three, "thumbs_up", 0],
    ] as const) {
      const f = byRequest.get(`${a.fields.requestId}/${metric}`);
      assert.ok(f, `${metric} for ${a.fields.requestId}`);
      assert.deepEqual(
        [f.experiment, f.phase, f.arm, f.unitHash.toString(16), f.value, f.proxy],
        ["fb", 0, a.fields.arm, a.fields.unitHash, value, "fb-proxy"],
      );
      assert.equal(a.variant, a.fields.arm === 0 ? "b" : "c", "the arm is the one that served the answer");
      assert.ok(f.receivedAt !== undefined && Number(f.receivedAt.seconds) > 0);
    }
    assert.equal(plane.metrics.feedback.count("fb", "thumbs_up"), 2);
    assert.match(plane.metrics.prometheusText(), /^turnout_feedback_total\{experiment="fb",metric="thumbs_up"\} 2$/m);
    assert.match(plane.metrics.prometheusText(), /^turnout_feedback_total\{experiment="fb",metric="score"\} 1$/m);

    // ...and into the experiment's report, on the arm that served each answer.
    const report = await plane.reports.get("fb");
    const fb = (arm: number, metric: string) => report.arms[arm]?.feedback.find((m) => m.metric === metric);
    const armOf = (a: { fields: { arm: number } }) => a.fields.arm;
    assert.equal(fb(armOf(two), "score")?.mean, 4.5);
    assert.equal(fb(armOf(three), "task_completed")?.count, 1n);
    assert.ok((fb(armOf(one), "thumbs_up")?.count ?? 0n) >= 1n, "the thumbs_up on its arm");
    assert.equal(
      (fb(0, "thumbs_up")?.count ?? 0n) + (fb(1, "thumbs_up")?.count ?? 0n),
      2n,
      "both thumbs_up entries counted, on their arms",
    );
  });

  test("forged, altered, truncated, other-key and missing refs get 400 / InvalidArgument naming the ref through both endpoints, and nothing is recorded", async () => {
    const { ref, fields } = await answer("fb-user-4");
    const [, payload, sig] = ref.split(".");
    const bad: [string, string, RegExp][] = [
      ["forged (made-up signature)", `t1.${payload}.${"A".repeat(43)}`, /ref: bad signature/],
      ["altered payload (one char)", `t1.${alter(payload, 6)}.${sig}`, /ref: bad signature/],
      ["altered signature (one char)", `t1.${payload}.${alter(sig, 10)}`, /ref: bad signature/],
      ["other key", signRef({ ...fields }, "some-other-secret-0123456789"), /ref: bad signature/],
      ["truncated", ref.slice(0, -5), /ref: malformed/],
      ["garbage", "not-a-ref", /ref: malformed/],
      ["future version", `t9.${payload}.${sig}`, /ref: unknown ref version/],
    ];
    const before = accepted.length;
    for (const [what, text, message] of bad) {
      const http = await postFeedback({ ref: text, metric: "thumbs_up", value: 1 });
      assert.equal(http.status, 400, what);
      assert.match(String(http.json.error), message, what);
      assert.deepEqual(
        (http.json.violations as { field: string }[]).map((v) => v.field),
        ["ref"],
        what,
      );
      const rpc = await rpcFeedback(text, "thumbs_up", 1);
      assert.equal(rpc.err?.code, Code.InvalidArgument, what);
      assert.match(rpc.err.rawMessage, message, what);
    }
    const missing = await postFeedback({ metric: "thumbs_up", value: 1 });
    assert.equal(missing.status, 400);
    assert.match(String(missing.json.error), /^ref: missing/);
    const missingRpc = await rpcFeedback("", "thumbs_up", 1);
    assert.equal(missingRpc.err?.code, Code.InvalidArgument);
    assert.match(missingRpc.err.rawMessage, /^ref: missing/);
    assert.equal(accepted.length, before, "no rejected feedback was recorded");
  });

  test("a bad metric name or value names the field; a body that is not a JSON object is a 400 too", async () => {
    const { ref } = await answer("fb-user-5");
    const before = accepted.length;
    for (const metric of ["Thumbs Up", "", "x".repeat(65), 7]) {
      const http = await postFeedback({ ref, metric, value: 1 });
      assert.equal(http.status, 400);
      assert.match(String(http.json.error), /^metric: must be 1\.\.64 characters of \[a-z0-9_\.-\]$/);
    }
    for (const value of ["1", null, true]) {
      const http = await postFeedback({ ref, metric: "score", value });
      assert.equal(http.status, 400);
      assert.match(String(http.json.error), /^value: must be a finite number$/);
    }
    const both = await postFeedback({ ref: "nope", metric: "A", value: "x" });
    assert.deepEqual(
      (both.json.violations as { field: string }[]).map((v) => v.field),
      ["ref", "metric", "value"],
    );
    const rpcMetric = await rpcFeedback(ref, "BAD!", 1);
    assert.equal(rpcMetric.err?.code, Code.InvalidArgument);
    assert.match(rpcMetric.err.rawMessage, /^metric: /);
    const rpcValue = await rpcFeedback(ref, "score", Number.POSITIVE_INFINITY);
    assert.equal(rpcValue.err?.code, Code.InvalidArgument);
    assert.match(rpcValue.err.rawMessage, /^value: must be a finite number$/);
    for (const raw of ["{not json", "[1]", '"str"']) {
      const r = await postFeedback(raw);
      assert.equal(r.status, 400);
      assert.match(String(r.json.error), /^body: /);
    }
    const get = await fetch(`${proxy.url}/v1/feedback`);
    await get.arrayBuffer();
    assert.equal(get.status, 405);
    assert.equal(accepted.length, before);
  });

  test("feedback is not lost across control-plane restarts: sent while it is down, it is counted when it is back, and again after the log is reopened from disk", async () => {
    const a = await answer("fb-user-6");
    const b = await answer("fb-user-7");
    assert.equal((await postFeedback({ ref: a.ref, metric: "conversion", value: 1 })).status, 202);
    await until("the conversion at the control plane", () => plane.metrics.feedback.count("fb", "conversion") === 1);
    await plane.close();
    // the control plane is down; the proxy still accepts feedback into the durable log
    assert.equal((await postFeedback({ ref: b.ref, metric: "conversion", value: 1 })).status, 202);
    plane = await startPlane();
    await until("both conversions after the restart", () => plane.metrics.feedback.count("fb", "conversion") === 2);
    const total = plane.metrics.feedback.total();
    assert.ok(
      seen.some((f) => f.requestId === b.fields.requestId && f.arm === b.fields.arm),
      "the one sent while down reached the hook",
    );

    // a full restart: proxy, control plane and the log itself closed, the log reopened from its files
    await proxy.close();
    await plane.close();
    await log.close();
    log = createFileOutcomeLog({ dir: join(dir, "outcomes"), fsync: false });
    plane = await startPlane();
    await plane.metrics.rebuilt();
    assert.equal(plane.metrics.feedback.count("fb", "conversion"), 2);
    assert.equal(plane.metrics.feedback.total(), total, "the same feedback, each once");
    proxy = await startProxy({ store, port: 0, logger, id: "fb-proxy", closeGraceMs: 200, refSecret: SECRET, outcomes: log });
  });
});
