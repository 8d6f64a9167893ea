/**
 * Replays refused fleet-wide: two proxies and a control plane, each on its own connection to a
 * real nats-server. Feedback accepted on one proxy is refused as a replay on the other (409 /
 * already_exists) once its key arrived over the bus, in both directions and on both endpoints;
 * a key accepted while NATS is down reaches the other proxy when NATS is back; and feedback both
 * proxies accepted (during the outage, or racing onto both at once) is counted once by the
 * control plane.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import { ExperimentServiceCreateRequestSchema } from "../../gen/turnout/v1/experiment_pb.js";
import { feedbackReplayKey } from "../../src/assign/feedback-replay-window.ts";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import { startProxy, type Proxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createNatsTransport, type NatsTransport } from "../../src/transport/nats/nats-transport.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { until } from "../support/until.ts";
import { experimentState } from "./experiment-fixtures.ts";

const SECRET = "feedback-replay-nats-secret-0123";
const logger = createLogger({ level: "silent" });
let nats: NatsServer;
let sim: Simulator;
let controlTransport: NatsTransport;
let plane: ControlPlane;
const transports: NatsTransport[] = [];
let a: Proxy;
let b: Proxy;

async function proxyOn(id: string): Promise<Proxy> {
  const t = await createNatsTransport({ servers: nats.url, name: `turnout-proxy-${id}`, logger });
  transports.push(t);
  return startProxy({
    store: t.store,
    bus: t.bus,
    outcomes: t.outcomes,
    port: 0,
    logger,
    id,
    closeGraceMs: 200,
    refSecret: SECRET,
  });
}

before(async () => {
  nats = await startNatsServer();
  sim = await startSimulator({ models: ["qwen3:0.6b", "qwen3:1.7b", "qwen3:4b"], outputTokens: 2 });
  controlTransport = await createNatsTransport({ servers: nats.url, name: "turnout-control", logger });
  plane = await createControlPlane({
    store: controlTransport.store,
    bus: controlTransport.bus,
    outcomes: controlTransport.outcomes,
    logger,
    bootstrap: experimentState(sim.url),
    consumerName: "control",
  });
  await plane.experiments.create(
    create(ExperimentServiceCreateRequestSchema, {
      id: "fr",
      name: "fr",
      duration: "24h",
      route: "chat",
      arms: [
        { name: "b", weight: 50 },
        { name: "c", weight: 50 },
      ],
    }),
  );
  const started = await plane.experiments.start("fr");
  a = await proxyOn("pa");
  b = await proxyOn("pb");
  await a.waitForVersion(started.snapshotVersion, AbortSignal.timeout(10_000));
  await b.waitForVersion(started.snapshotVersion, AbortSignal.timeout(10_000));
});
after(async () => {
  await a?.close();
  await b?.close();
  await plane?.close();
  for (const t of [...transports, controlTransport]) await t?.close();
  await sim?.close();
  await nats?.stop();
});

/** A real answer from `proxy` for `user`: its ref. */
async function answer(proxy: Proxy, user: string): Promise<string> {
  const res = await fetch(`${proxy.url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-turnout-user": user },
    body: JSON.stringify({ model: "chat", messages: [{ role: "user", content: "hi" }], stream: false }),
  });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  const ref = res.headers.get("x-turnout-ref");
  assert.ok(ref);
  return ref;
}

/** POST /v1/feedback on `proxy`: status and body. */
async function post(proxy: Proxy, ref: string, metric: string, value: number) {
  const res = await fetch(`${proxy.url}/v1/feedback`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ref, metric, value }),
  });
  return { status: res.status, json: (await res.json()) as { error?: string } };
}

/** ChatService.Feedback on `proxy`: undefined when accepted, else the error's code. */
async function rpc(proxy: Proxy, ref: string, metric: string, value: number): Promise<Code | undefined> {
  const client = createClient(ChatService, createConnectTransport({ baseUrl: proxy.url, httpVersion: "1.1" }));
  try {
    await client.feedback({ ref, metric, value });
    return undefined;
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

/** Waits until `proxy` knows that feedback on `ref` for `metric` was accepted. */
function known(proxy: Proxy, ref: string, metric: string, timeoutMs = 10_000): Promise<unknown> {
  const key = feedbackReplayKey(ref, metric);
  return until(`${metric} on the ref to reach the other proxy`, () => proxy.feedbackReplays.window.has(key), { timeoutMs });
}

/** The control plane's turnout_feedback_duplicates_total. */
function duplicates(): number {
  const m = plane.metrics.prometheusText().match(/^turnout_feedback_duplicates_total (\d+)$/m);
  return Number(m?.[1] ?? Number.NaN);
}

test("feedback accepted on one proxy is refused as a replay on the other, in both directions and on both endpoints", async () => {
  const first = await answer(a, "nats-user-1");
  assert.equal((await post(a, first, "thumbs_up", 1)).status, 202);
  await known(b, first, "thumbs_up");
  const replay = await post(b, first, "thumbs_up", 1);
  assert.equal(replay.status, 409);
  assert.match(String(replay.json.error), /^ref: feedback on metric "thumbs_up" for this answer was accepted already/);
  assert.equal(await rpc(b, first, "thumbs_up", 0), Code.AlreadyExists);

  const second = await answer(b, "nats-user-2");
  assert.equal(await rpc(b, second, "score", 3), undefined);
  await known(a, second, "score");
  assert.equal((await post(a, second, "score", 3)).status, 409);
  assert.equal(await rpc(a, second, "score", 3), Code.AlreadyExists);
  assert.equal((await post(a, second, "thumbs_up", 1)).status, 202, "another metric of the answer is new");

  await until(
    "each piece of feedback once",
    () => plane.metrics.feedback.count("fr", "score") === 1 && plane.metrics.feedback.count("fr", "thumbs_up") === 2,
  );
});

test("during a NATS outage each proxy refuses replays it saw; keys accepted meanwhile reach the other proxy when NATS is back, and what both accepted is counted once", {
  timeout: 60_000,
}, async () => {
  const ref = await answer(a, "nats-user-3");
  const both = await answer(b, "nats-user-4");
  const duplicatesBefore = duplicates();
  await nats.kill();
  try {
    assert.equal((await post(a, ref, "conversion", 1)).status, 202, "the proxy takes feedback while NATS is down");
    assert.equal((await post(a, ref, "conversion", 1)).status, 409, "and refuses its replay on the same proxy");
    assert.equal(b.feedbackReplays.window.has(feedbackReplayKey(ref, "conversion")), false, "the other cannot know yet");
    // the same feedback on both proxies while they cannot tell each other
    assert.equal((await post(a, both, "conversion", 1)).status, 202);
    assert.equal(await rpc(b, both, "conversion", 1), undefined);
  } finally {
    await nats.restart();
  }
  await known(b, ref, "conversion", 30_000);
  assert.equal((await post(b, ref, "conversion", 1)).status, 409);
  assert.equal(await rpc(b, ref, "conversion", 1), Code.AlreadyExists);
  await until("both refs' conversions read, the doubled one as a duplicate", () => duplicates() > duplicatesBefore, {
    timeoutMs: 30_000,
  });
  await until("each conversion counted once", () => plane.metrics.feedback.count("fr", "conversion") === 2, {
    timeoutMs: 30_000,
  });
  assert.equal(duplicates() - duplicatesBefore, 1);
});

test("replays racing onto both proxies at once are counted once by the control plane, the rest as duplicates", {
  timeout: 60_000,
}, async () => {
  const before = plane.metrics.feedback.count("fr", "task_completed");
  const duplicatesBefore = duplicates();
  const refs = await Promise.all(Array.from({ length: 5 }, (_, i) => answer(i % 2 === 0 ? a : b, `nats-race-${i}`)));
  const statuses = (
    await Promise.all(
      refs.flatMap((ref) => Array.from({ length: 8 }, (_, k) => post(k % 2 === 0 ? a : b, ref, "task_completed", 1))),
    )
  ).map((r) => r.status);
  assert.ok(
    statuses.every((s) => s === 202 || s === 409),
    statuses.join(","),
  );
  const acceptedCount = statuses.filter((s) => s === 202).length;
  assert.ok(acceptedCount >= refs.length, `each ref accepted at least once (${acceptedCount})`);
  await until(
    "every accepted one read by the control plane",
    () => plane.metrics.feedback.count("fr", "task_completed") - before + duplicates() - duplicatesBefore >= acceptedCount,
    { timeoutMs: 30_000 },
  );
  assert.equal(plane.metrics.feedback.count("fr", "task_completed") - before, refs.length, "each ref counted once");
  assert.equal(duplicates() - duplicatesBefore, acceptedCount - refs.length);
});
