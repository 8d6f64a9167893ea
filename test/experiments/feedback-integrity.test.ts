/**
 * Feedback you can trust, through a real proxy and control plane (embedded transport), on both
 * endpoints: a ref and metric are taken once (a replay is 409 / already_exists and counted
 * nothing), refs expire after settings.feedback_ref_ttl (1h here), values must be finite and in
 * the metric's range, a validly signed ref for an experiment, phase or arm the snapshot does not
 * have is refused, and a stopped experiment's recent refs still take feedback.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import { ExperimentServiceCreateRequestSchema } from "../../gen/turnout/v1/experiment_pb.js";
import { SettingsSchema } from "../../gen/turnout/v1/routing_pb.js";
import { signRef, verifyRef, type RefFields } from "../../src/assign/feedback-ref.ts";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import type { FeedbackEntry } from "../../src/proxy/feedback/accept-feedback.ts";
import { startProxy, type Proxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import { createFileOutcomeLog, type FileOutcomeLog } from "../../src/transport/memory/file-outcome-log.ts";
import type { KvStore } from "../../src/transport/types.ts";
import { until } from "../support/until.ts";
import { experimentState } from "./experiment-fixtures.ts";

const SECRET = "feedback-integrity-secret-0123456789";
const HOUR = 3600_000;
const logger = createLogger({ level: "silent" });
let dir: string;
let sim: Simulator;
let store: KvStore;
let log: FileOutcomeLog;
let plane: ControlPlane;
let proxy: Proxy;
let client: Client<typeof ChatService>;
const accepted: FeedbackEntry[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "turnout-feedback-integrity-"));
  sim = await startSimulator({ models: ["qwen3:0.6b", "qwen3:1.7b", "qwen3:4b"], outputTokens: 2 });
  store = createFileKvStore({ dir: join(dir, "kv"), fsync: false });
  log = createFileOutcomeLog({ dir: join(dir, "outcomes"), fsync: false });
  plane = await createControlPlane({
    store,
    logger,
    bootstrap: { ...experimentState(sim.url), settings: create(SettingsSchema, { feedbackRefTtlMs: HOUR }) },
    outcomes: log,
    consumerName: "control-feedback-integrity",
  });
  proxy = await startProxy({
    store,
    port: 0,
    logger,
    id: "fi-proxy",
    closeGraceMs: 200,
    refSecret: SECRET,
    outcomes: log,
    onFeedback: (f) => accepted.push(f),
  });
  client = createClient(ChatService, createConnectTransport({ baseUrl: proxy.url, httpVersion: "1.1" }));
  // "fi" on route chat declares its metrics; "open" on route other declares none
  await plane.experiments.create(
    create(ExperimentServiceCreateRequestSchema, {
      id: "fi",
      name: "fi",
      duration: "24h",
      route: "chat",
      arms: [
        { name: "b", weight: 50 },
        { name: "c", weight: 50 },
      ],
      metrics: ["response_time", "accuracy"],
      feedbackMetrics: [
        { name: "thumbs_up", min: 0, max: 1 },
        { name: "score", min: 1, max: 5 },
      ],
    }),
  );
  await plane.experiments.create(
    create(ExperimentServiceCreateRequestSchema, {
      id: "open",
      name: "open",
      duration: "24h",
      route: "other",
      arms: [
        { name: "x", weight: 50 },
        { name: "y", weight: 50 },
      ],
    }),
  );
  await plane.experiments.start("fi");
  const started = await plane.experiments.start("open");
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

/** A real answer of `model` for `user`: its ref and what the ref says. */
async function answer(user: string, model = "chat"): Promise<{ ref: string; fields: RefFields }> {
  const res = await fetch(`${proxy.url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-turnout-user": user },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream: false }),
  });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  const ref = res.headers.get("x-turnout-ref");
  assert.ok(ref, "an answer in the experiment carries x-turnout-ref");
  const v = verifyRef(ref, SECRET);
  assert.ok(v.ok);
  return { ref, fields: v.fields };
}

/** POST /v1/feedback with `body` (a raw string is sent as is): status and parsed JSON. */
async function postFeedback(body: unknown) {
  const res = await fetch(`${proxy.url}/v1/feedback`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const json = (await res.json()) as { error?: string; violations?: { field: string; message: string }[] };
  return { status: res.status, json };
}

/** ChatService.Feedback: the response, or the ConnectError. */
async function rpcFeedback(ref: string, metric: string, value: number) {
  try {
    return { ok: await client.feedback({ ref, metric, value }) };
  } catch (err) {
    return { err: ConnectError.from(err) };
  }
}

/** Asserts both endpoints refuse `ref`/`metric`/`value` with 400 / InvalidArgument naming `field` and matching `message`. */
async function refusedOnBoth(ref: string, metric: string, value: number, field: string, message: RegExp) {
  const http = await postFeedback({ ref, metric, value });
  assert.equal(http.status, 400, JSON.stringify(http.json));
  assert.match(String(http.json.error), message);
  assert.deepEqual(
    http.json.violations?.map((v) => v.field),
    [field],
  );
  const rpc = await rpcFeedback(ref, metric, value);
  assert.equal(rpc.err?.code, Code.InvalidArgument, rpc.err?.message);
  assert.match(rpc.err.rawMessage, message);
}

/** Sends a marker score on a fresh answer and waits until the control plane counted it: everything the proxy accepted before is counted by then. */
async function settled(user: string): Promise<void> {
  const marker = await answer(user, "other");
  assert.equal((await postFeedback({ ref: marker.ref, metric: "marker", value: 1 })).status, 202);
  const want = accepted.filter((f) => f.metric === "marker").length;
  await until("the marker at the control plane", () => plane.metrics.feedback.count("open", "marker") >= want);
}

describe("feedback integrity", () => {
  test("a ref and metric are accepted once: the replay is 409 on POST /v1/feedback and already_exists on ChatService.Feedback, on either endpoint, and the control plane counts it once", async () => {
    const one = await answer("fi-user-1");
    const two = await answer("fi-user-2");
    const first = await postFeedback({ ref: one.ref, metric: "thumbs_up", value: 1 });
    assert.equal(first.status, 202, JSON.stringify(first.json));
    const replay = await postFeedback({ ref: one.ref, metric: "thumbs_up", value: 0 });
    assert.equal(replay.status, 409);
    assert.deepEqual(replay.json, {
      error: 'ref: feedback on metric "thumbs_up" for this answer was accepted already (a ref takes one value per metric)',
      violations: [
        {
          field: "ref",
          message: 'feedback on metric "thumbs_up" for this answer was accepted already (a ref takes one value per metric)',
        },
      ],
    });
    const rpcReplay = await rpcFeedback(one.ref, "thumbs_up", 1);
    assert.equal(rpcReplay.err?.code, Code.AlreadyExists);
    assert.match(rpcReplay.err.rawMessage, /^ref: feedback on metric "thumbs_up" for this answer was accepted already/);
    // another metric of the same answer is new; a ref accepted through the RPC is refused on HTTP
    assert.equal((await postFeedback({ ref: one.ref, metric: "score", value: 4 })).status, 202);
    assert.ok((await rpcFeedback(two.ref, "score", 2)).ok);
    assert.equal((await postFeedback({ ref: two.ref, metric: "score", value: 5 })).status, 409);

    // one ref replayed 50 times at once: one 202, 49 refusals
    const three = await answer("fi-user-3");
    const statuses = await Promise.all(
      Array.from({ length: 50 }, async (_, i) =>
        i % 2 === 0
          ? (await postFeedback({ ref: three.ref, metric: "thumbs_up", value: 1 })).status
          : (await rpcFeedback(three.ref, "thumbs_up", 1)).err?.code === Code.AlreadyExists
            ? 409
            : 202,
      ),
    );
    assert.deepEqual([statuses.filter((s) => s === 202).length, statuses.filter((s) => s === 409).length], [1, 49]);

    await settled("fi-marker-1");
    assert.equal(plane.metrics.feedback.count("fi", "thumbs_up"), 2, "one.ref and three.ref, each once");
    assert.equal(plane.metrics.feedback.count("fi", "score"), 2);
    const report = await plane.reports.get("fi");
    const thumbs = report.arms.reduce((n, a) => n + Number(a.feedback.find((f) => f.metric === "thumbs_up")?.count ?? 0), 0);
    assert.equal(thumbs, 2, "the report counts each ref once");

    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    const sample = (name: string) => Number(metrics.match(new RegExp(`^${name} (\\d+)$`, "m"))?.[1]);
    assert.deepEqual(
      [
        sample('turnout_proxy_feedback_total\\{result="accepted"\\}'),
        sample('turnout_proxy_feedback_total\\{result="replayed"\\}'),
        sample('turnout_proxy_feedback_total\\{result="refused"\\}'),
        sample("turnout_proxy_feedback_replay_keys"),
      ],
      [accepted.length, 52, 0, accepted.length],
    );
  });

  test("a ref issued longer ago than settings.feedback_ref_ttl (1h) is refused as expired on both endpoints; one within it is taken", async () => {
    const { fields } = await answer("fi-user-4");
    const old = signRef({ ...fields, issuedAt: Date.now() - 2 * HOUR }, SECRET);
    await refusedOnBoth(old, "thumbs_up", 1, "ref", /^ref: expired \(issued 2h(\d+s)? ago; refs take feedback for 1h\)$/);
    const recent = signRef({ ...fields, issuedAt: Date.now() - 50 * 60_000 }, SECRET);
    assert.equal((await postFeedback({ ref: recent, metric: "thumbs_up", value: 1 })).status, 202);
    const recentToo = signRef({ ...fields, requestId: `${fields.requestId}-b`, issuedAt: Date.now() - 50 * 60_000 }, SECRET);
    assert.ok((await rpcFeedback(recentToo, "thumbs_up", 1)).ok);
  });

  test("values that are not finite or outside the metric's range, and metrics the experiment did not declare, are 400 / invalid_argument naming the field", async () => {
    const { ref } = await answer("fi-user-5");
    const open = await answer("fi-user-6", "other");
    const before = accepted.length;
    // JSON has no Infinity: 1e999 parses to it
    const infinite = await postFeedback(`{"ref":${JSON.stringify(ref)},"metric":"score","value":1e999}`);
    assert.equal(infinite.status, 400);
    assert.equal(infinite.json.error, "value: must be a finite number");
    for (const value of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN]) {
      const rpc = await rpcFeedback(ref, "score", value);
      assert.equal(rpc.err?.code, Code.InvalidArgument);
      assert.equal(rpc.err.rawMessage, "value: must be a finite number");
    }
    await refusedOnBoth(ref, "thumbs_up", 2, "value", /^value: must be from 0 to 1 for metric "thumbs_up", got 2$/);
    await refusedOnBoth(ref, "score", 0, "value", /^value: must be from 1 to 5 for metric "score", got 0$/);
    await refusedOnBoth(ref, "thumbs_up", 1.7e308, "value", /^value: must be from 0 to 1 /);
    await refusedOnBoth(
      ref,
      "clicks",
      1,
      "metric",
      /^metric: "clicks" is not a feedback metric of experiment "fi" \(it takes thumbs_up, score\)$/,
    );
    // an experiment that declared no metrics takes any name, within the default range
    await refusedOnBoth(
      open.ref,
      "revenue",
      1.7e308,
      "value",
      /^value: must be from -1000000000 to 1000000000 for metric "revenue"/,
    );
    assert.equal(accepted.length, before, "nothing refused was recorded");
    assert.equal((await postFeedback({ ref: open.ref, metric: "revenue", value: -1e9 })).status, 202);
    assert.equal((await postFeedback({ ref, metric: "score", value: 5 })).status, 202);
  });

  test("a validly signed ref for an unknown experiment, phase or arm is 400 / invalid_argument naming the ref on both endpoints", async () => {
    const { fields } = await answer("fi-user-7");
    const before = accepted.length;
    const cases: [Partial<RefFields>, RegExp][] = [
      [{ experiment: "ghost" }, /^ref: names experiment "ghost", which is not running and did not end within the last 1h$/],
      [{ arm: 2 }, /^ref: names arm 2 of experiment "fi", which has 2 arms$/],
      [{ phase: 1 }, /^ref: names phase 1 of experiment "fi", which has phases 0\.\.0$/],
    ];
    for (const [change, message] of cases)
      await refusedOnBoth(signRef({ ...fields, ...change }, SECRET), "thumbs_up", 1, "ref", message);
    // signed on a snapshot this proxy has not applied yet: a retry, not a refusal
    const ahead = signRef({ ...fields, experiment: "ghost", snapshotVersion: fields.snapshotVersion + 100 }, SECRET);
    const res = await fetch(`${proxy.url}/v1/feedback`, {
      method: "POST",
      body: JSON.stringify({ ref: ahead, metric: "thumbs_up", value: 1 }),
    });
    assert.deepEqual([res.status, res.headers.get("retry-after")], [503, "1"]);
    assert.match(((await res.json()) as { error: string }).error, /^this proxy has not applied snapshot \d+ of the ref yet/);
    assert.equal((await rpcFeedback(ahead, "thumbs_up", 1)).err?.code, Code.Unavailable);
    assert.equal(accepted.length, before);
  });

  test("a stopped experiment's refs still take feedback for the ref TTL after the stop, and are counted in its report; its unknown arms are still refused", async () => {
    const plain = await answer("fi-user-8", "other");
    const rpcOne = await answer("fi-user-9", "other");
    const stopped = await plane.experiments.stop("open");
    await proxy.waitForVersion(stopped.snapshotVersion, AbortSignal.timeout(5000));
    const after = await fetch(`${proxy.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-turnout-user": "fi-user-8" },
      body: JSON.stringify({ model: "other", messages: [{ role: "user", content: "hi" }], stream: false }),
    });
    await after.arrayBuffer();
    assert.equal(after.headers.get("x-turnout-ref"), null, "a stopped experiment assigns nobody");
    const http = await postFeedback({ ref: plain.ref, metric: "conversion", value: 1 });
    assert.equal(http.status, 202, JSON.stringify(http.json));
    assert.deepEqual(http.json, { accepted: true, experiment: "open", arm: plain.fields.arm });
    assert.ok((await rpcFeedback(rpcOne.ref, "conversion", 1)).ok);
    assert.equal((await postFeedback({ ref: plain.ref, metric: "conversion", value: 1 })).status, 409, "replays stay refused");
    await refusedOnBoth(
      signRef({ ...plain.fields, arm: 7 }, SECRET),
      "conversion",
      1,
      "ref",
      /^ref: names arm 7 of experiment "open"/,
    );
    await until("both conversions at the control plane", () => plane.metrics.feedback.count("open", "conversion") === 2);
    const report = await plane.reports.get("open");
    const conversions = report.arms.reduce(
      (n, a) => n + Number(a.feedback.find((f) => f.metric === "conversion")?.count ?? 0),
      0,
    );
    assert.equal(conversions, 2);
  });

  test("a paused experiment's refs take feedback while it is paused, with its declared ranges still checked", async () => {
    const { ref } = await answer("fi-user-10");
    const paused = await plane.experiments.pause("fi");
    await proxy.waitForVersion(paused.snapshotVersion, AbortSignal.timeout(5000));
    await refusedOnBoth(ref, "thumbs_up", 3, "value", /^value: must be from 0 to 1 for metric "thumbs_up", got 3$/);
    assert.equal((await postFeedback({ ref, metric: "thumbs_up", value: 1 })).status, 202);
    assert.ok((await rpcFeedback(ref, "score", 2)).ok);
  });
});
