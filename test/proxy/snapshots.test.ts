import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toBinary } from "@bufbuild/protobuf";
import { RoutingSnapshotSchema } from "../../gen/turnout/v1/routing_pb.js";
import { buildSnapshot, startProxyFixture, type SnapshotSpec } from "./proxy-harness.ts";

const body = (extra: object = {}) =>
  JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], stream: false, ...extra });

function spec(version: number, urls: string[], defaultVariant = "a"): SnapshotSpec {
  return {
    version,
    nodes: urls.map((url, i) => ({ id: `n${i}`, url })),
    routes: [
      {
        name: "m",
        defaultVariant,
        variants: [
          { name: "a", model: "model-a:1", nodes: ["n0"] },
          { name: "b", model: "model-b:1", nodes: [`n${urls.length - 1}`] },
        ],
      },
    ],
  };
}

describe("snapshot watch and apply", () => {
  it("answers 503 in each dialect's shape before the first snapshot, then serves once one lands", async () => {
    const f = await startProxyFixture({ sims: [{ models: ["model-a:1", "model-b:1"] }] });
    try {
      const native = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: body() });
      assert.equal(native.status, 503);
      assert.deepEqual(await native.json(), { error: "no routing snapshot yet" });
      assert.equal(native.headers.get("x-turnout-snapshot"), "0");
      const v1 = await fetch(`${f.proxy.url}/v1/chat/completions`, { method: "POST", body: body() });
      assert.equal(v1.status, 503);
      assert.equal(((await v1.json()) as { error: { message: string } }).error.message, "no routing snapshot yet");
      assert.equal((await fetch(`${f.proxy.url}/health`)).status, 503);
      assert.equal(f.proxy.version(), 0);

      const applied = f.proxy.waitForVersion(1);
      await f.publish(spec(1, [f.sims[0].url]));
      await applied;
      const ok = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: body() });
      assert.equal(ok.status, 200);
      await ok.json();
      assert.deepEqual(await (await fetch(`${f.proxy.url}/health`)).json(), { status: "ok", snapshot_version: 1 });
      assert.deepEqual(f.reports, [{ proxy: "test", version: 1, appliedVersion: 1, state: "ACK" }]);
    } finally {
      await f.close();
    }
  });

  it("NACKs an inconsistent snapshot with the reason and keeps serving the last good one", async () => {
    const f = await startProxyFixture({ sims: [{ models: ["model-a:1", "model-b:1"] }], snapshot: (urls) => spec(1, urls) });
    try {
      const bad = buildSnapshot(spec(2, [f.sims[0].url], "missing"));
      const report = await f.publishRaw(toBinary(RoutingSnapshotSchema, bad));
      assert.equal(report.state, "NACK");
      assert.equal(report.version, 2);
      assert.equal(report.appliedVersion, 1);
      assert.match(report.error ?? "", /default_variant/);
      assert.equal(f.proxy.version(), 1);
      const res = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: body() });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-turnout-snapshot"), "1");
      await res.json();

      const tampered = buildSnapshot(spec(3, [f.sims[0].url]));
      tampered.contentHash = "0".repeat(64);
      const hashReport = await f.publishRaw(toBinary(RoutingSnapshotSchema, tampered));
      assert.equal(hashReport.state, "NACK");
      assert.match(hashReport.error ?? "", /content_hash/);

      const garbage = await f.publishRaw(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
      assert.equal(garbage.state, "NACK");
      assert.match(garbage.error ?? "", /malformed snapshot/);
      assert.equal(f.proxy.version(), 1);

      await f.publish(spec(4, [f.sims[0].url], "b"));
      assert.equal(f.proxy.version(), 4);
    } finally {
      await f.close();
    }
  });

  it("ignores a snapshot whose version is not newer than the applied one", async () => {
    const f = await startProxyFixture({ sims: [{ models: ["model-a:1", "model-b:1"] }], snapshot: (urls) => spec(5, urls) });
    try {
      await f.publish(spec(6, [f.sims[0].url], "b"));
      const reportsBefore = f.reports.length;
      await f.store.put("snapshot.current", toBinary(RoutingSnapshotSchema, buildSnapshot(spec(4, [f.sims[0].url], "a"))));
      await f.publish(spec(7, [f.sims[0].url], "b"));
      assert.deepEqual(
        f.reports.slice(reportsBefore).map((r) => r.version),
        [7],
      );
      const res = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: body() });
      assert.equal(res.headers.get("x-turnout-variant"), "b");
      await res.json();
    } finally {
      await f.close();
    }
  });

  it("pins an in-flight stream to the snapshot it started on while new requests take the new one", async () => {
    const f = await startProxyFixture({
      sims: [{ models: ["model-a:1"], tokensPerSecond: 40 }, { models: ["model-b:1"] }],
      snapshot: (urls) => spec(1, urls, "a"),
    });
    try {
      const old = await fetch(`${f.proxy.url}/api/chat`, {
        method: "POST",
        body: body({ stream: true, options: { num_predict: 12 } }),
      });
      assert.equal(old.headers.get("x-turnout-variant"), "a");
      assert.equal(old.headers.get("x-turnout-snapshot"), "1");
      const reader = old.body!.getReader();
      const first = await reader.read();
      assert.ok(!first.done);

      // v2 switches the route to variant b and drops node n0 altogether.
      await f.publish({
        version: 2,
        nodes: [{ id: "n1", url: f.sims[1].url }],
        routes: [{ name: "m", defaultVariant: "b", variants: [{ name: "b", model: "model-b:1", nodes: ["n1"] }] }],
      });
      const fresh = await fetch(`${f.proxy.url}/api/chat`, { method: "POST", body: body() });
      assert.equal(fresh.headers.get("x-turnout-variant"), "b");
      assert.equal(fresh.headers.get("x-turnout-snapshot"), "2");
      assert.equal(((await fresh.json()) as { model: string }).model, "m");

      let text = Buffer.from(first.value!).toString();
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString();
      const lines = text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.equal(lines.at(-1).done, true, "the old stream finished whole on its old node");
      assert.equal(lines.at(-1).eval_count, 12);
      assert.ok(lines.every((l) => l.model === "m" && l.error === undefined));
      assert.equal(f.sims[0].stats().byModel["model-a:1"], 1);
      const pinned = f.outcomes.find((o) => o.node === "n0");
      assert.equal(pinned?.snapshotVersion, 1);
      assert.equal(pinned?.status, "ok");
    } finally {
      await f.close();
    }
  });

  it("waitForVersion rejects when its signal aborts", async () => {
    const f = await startProxyFixture({ sims: [] });
    try {
      const controller = new AbortController();
      const waiting = f.proxy.waitForVersion(9, controller.signal);
      controller.abort(new Error("gave up"));
      await assert.rejects(waiting, /gave up/);
    } finally {
      await f.close();
    }
  });
});
