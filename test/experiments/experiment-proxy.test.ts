import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import { ExperimentServiceCreateRequestSchema } from "../../gen/turnout/v1/experiment_pb.js";
import { verifyRef } from "../../src/assign/feedback-ref.ts";
import { createControlPlane, type ControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import type { Outcome } from "../../src/proxy/outcome.ts";
import { startProxy, type Proxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import type { KvStore } from "../../src/transport/types.ts";
import { experimentState } from "./experiment-fixtures.ts";
import { until } from "../support/until.ts";

const SECRET = "test-ref-secret-0123456789";
let dir: string;
let sim: Simulator;
let store: KvStore;
let plane: ControlPlane;
let proxy: Proxy;
const outcomes: Outcome[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "turnout-exp-proxy-"));
  sim = await startSimulator({ models: ["qwen3:0.6b", "qwen3:1.7b", "qwen3:4b"], outputTokens: 2 });
  store = createFileKvStore({ dir, fsync: false });
  const logger = createLogger({ level: "silent" });
  plane = await createControlPlane({ store, logger, bootstrap: experimentState(sim.url) });
  proxy = await startProxy({
    store,
    port: 0,
    logger,
    id: "exp",
    closeGraceMs: 200,
    refSecret: SECRET,
    onOutcome: (o) => outcomes.push(o),
  });
});
after(async () => {
  await proxy.close();
  await plane.close();
  await store.close();
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

/** Creates and starts an experiment; waits until the proxy serves the snapshot that carries it. */
async function run(init: MessageInitShape<typeof ExperimentServiceCreateRequestSchema> & { id: string }): Promise<void> {
  await plane.experiments.create(create(ExperimentServiceCreateRequestSchema, { name: init.id, duration: "24h", ...init }));
  const started = await plane.experiments.start(init.id as string);
  await proxy.waitForVersion(started.snapshotVersion, AbortSignal.timeout(5000));
}
async function stop(id: string): Promise<void> {
  const r = await plane.experiments.stop(id);
  await proxy.waitForVersion(r.snapshotVersion, AbortSignal.timeout(5000));
}

/** One non-streaming /api/chat request for `model` as `user` with extra headers and body fields. */
async function chat(
  model: string,
  user: string | undefined,
  headers: Record<string, string> = {},
  extra: Record<string, unknown> = {},
) {
  const res = await fetch(`${proxy.url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(user ? { "x-turnout-user": user } : {}), ...headers },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream: false, ...extra }),
  });
  await res.arrayBuffer();
  return {
    status: res.status,
    variant: res.headers.get("x-turnout-variant"),
    ref: res.headers.get("x-turnout-ref"),
    requestId: res.headers.get("x-request-id"),
  };
}

describe("experiments through the proxy", () => {
  test("a running experiment assigns users deterministically to its arms, with a signed x-turnout-ref", async () => {
    await run({
      id: "split",
      route: "chat",
      arms: [
        { name: "b", weight: 50 },
        { name: "c", weight: 50 },
      ],
    });
    const seen = new Map<string, number>();
    for (let u = 0; u < 40; u++) {
      const first = await chat("chat", `user-${u}`);
      const again = await chat("chat", `user-${u}`);
      assert.equal(first.status, 200);
      assert.equal(again.variant, first.variant, "sticky");
      assert.ok(first.variant === "b" || first.variant === "c", String(first.variant));
      seen.set(first.variant!, (seen.get(first.variant!) ?? 0) + 1);
      const v = verifyRef(first.ref, SECRET);
      assert.ok(v.ok, "ref verifies");
      assert.equal(v.fields.experiment, "split");
      assert.equal(v.fields.phase, 0);
      assert.equal(v.fields.arm, first.variant === "b" ? 0 : 1);
      assert.equal(v.fields.requestId, first.requestId);
      assert.equal(verifyRef(first.ref, "another-secret-0123456789").ok, false);
    }
    assert.ok((seen.get("b") ?? 0) > 5 && (seen.get("c") ?? 0) > 5, JSON.stringify([...seen]));
    // no unit: the default variant, no ref, not counted
    outcomes.length = 0;
    const anonymous = await chat("chat", undefined);
    assert.equal(anonymous.variant, "a");
    assert.equal(anonymous.ref, null);
    await chat("chat", "user-1");
    await until("2 outcomes", () => outcomes.length >= 2, { timeoutMs: 5000 });
    assert.equal(outcomes[0].experiment ?? "", "");
    assert.equal(outcomes[1].experiment, "split");
    assert.ok(outcomes[1].armIndex === 0 || outcomes[1].armIndex === 1);
    await stop("split");
    assert.equal((await chat("chat", "user-1")).ref, null, "stopped: out of the snapshot");
  });

  test("a split change through the proxy: users stay in their arm where their bucket stays, answers carry the new phase", async () => {
    await run({
      id: "resplit",
      route: "chat",
      arms: [
        { name: "b", weight: 50 },
        { name: "c", weight: 50 },
      ],
    });
    const users = Array.from({ length: 60 }, (_, u) => `split-user-${u}`);
    const before = new Map<string, string>();
    for (const u of users) before.set(u, (await chat("chat", u)).variant!);
    const changed = await plane.experiments.changeSplit("resplit", [90, 10], false);
    await proxy.waitForVersion(changed.snapshotVersion, AbortSignal.timeout(5000));
    let movedToB = 0;
    for (const u of users) {
      const answer = await chat("chat", u);
      const ref = verifyRef(answer.ref, SECRET);
      assert.ok(ref.ok);
      assert.equal(ref.fields.phase, 1);
      if (before.get(u) === "b") assert.equal(answer.variant, "b", `${u} stays in b`);
      else if (answer.variant === "b") movedToB++;
    }
    assert.ok(movedToB > 0, "some of c's users move to b");
    await stop("resplit");
  });

  test("targeting: only returning users (x-turnout-attr-visits) in the EU (metadata) enter the experiment", async () => {
    await run({
      id: "target",
      route: "chat",
      arms: [
        { name: "b", weight: 1 },
        { name: "c", weight: 1 },
      ],
      targeting: {
        all: [
          { attr: "visits", gte: 2 },
          { attr: "region", in: ["eu-west", "eu-central"] },
        ],
      },
    });
    for (let u = 0; u < 15; u++) {
      const user = `t-${u}`;
      const fresh = await chat("chat", user, { "x-turnout-attr-visits": "1" }, { metadata: { region: "eu-west" } });
      assert.equal(fresh.variant, "a");
      assert.equal(fresh.ref, null);
      const us = await chat("chat", user, { "x-turnout-attr-visits": "5" }, { metadata: { region: "us-east" } });
      assert.equal(us.variant, "a");
      const euHeader = await chat("chat", user, { "x-turnout-attr-visits": "5", "x-turnout-attr-region": "eu-central" });
      assert.ok(euHeader.variant === "b" || euHeader.variant === "c");
      assert.ok(verifyRef(euHeader.ref, SECRET).ok);
      const euMeta = await chat("chat", user, {}, { metadata: { visits: 3, region: "eu-west" } });
      assert.equal(euMeta.variant, euHeader.variant, "same arm whichever way the attributes came");
    }
    const bad = await chat("chat", "t-1", { "x-turnout-attr-visits": "5" }, { metadata: { visits: 6 } });
    assert.equal(bad.status, 400);
    await stop("target");
  });

  test("two experiments in one layer never share a user, across routes", async () => {
    await run({
      id: "left",
      route: "chat",
      layer: "L",
      layerPercent: 50,
      arms: [
        { name: "b", weight: 1 },
        { name: "c", weight: 1 },
      ],
    });
    await run({
      id: "right",
      route: "other",
      layer: "L",
      layerPercent: 50,
      arms: [
        { name: "x", weight: 1 },
        { name: "y", weight: 1 },
      ],
    });
    let inLeft = 0;
    let inRight = 0;
    for (let u = 0; u < 60; u++) {
      const user = `layer-${u}`;
      const l = await chat("chat", user);
      const r = await chat("other", user);
      const a = l.ref !== null;
      const b = r.ref !== null;
      assert.ok(!(a && b), `${user} is in both experiments`);
      assert.ok(a || b, `${user}: the layer is fully claimed, so each user is in one`);
      if (a) inLeft++;
      if (b) inRight++;
      if (!a) assert.equal(l.variant, "a");
      if (!b) assert.equal(r.variant, "x");
    }
    assert.ok(inLeft > 10 && inRight > 10, `${inLeft}/${inRight}`);
    await stop("left");
    await stop("right");
  });

  test("ChatService.Chat answers in an experiment carry the same assignment and a signed ref", async () => {
    await run({
      id: "rpc",
      route: "chat",
      arms: [
        { name: "b", weight: 1 },
        { name: "c", weight: 1 },
      ],
    });
    const client = createClient(ChatService, createConnectTransport({ baseUrl: proxy.url, httpVersion: "1.1" }));
    for (const user of ["r-1", "r-2", "r-3"]) {
      let headers: Headers | undefined;
      for await (const _ of client.chat(
        { model: "chat", messages: [{ role: "user", content: "hi" }], user },
        { onHeader: (h) => (headers = h) },
      ))
        void _;
      const http = await chat("chat", user);
      assert.equal(headers?.get("x-turnout-variant"), http.variant);
      const v = verifyRef(headers?.get("x-turnout-ref"), SECRET);
      assert.ok(v.ok);
      assert.equal(v.fields.experiment, "rpc");
    }
    await stop("rpc");
  });
});
