import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { request } from "undici";
import { RoutingSnapshotSchema } from "../../gen/turnout/v1/routing_pb.js";
import { createLogger } from "../../src/log.ts";
import { startProxy, type Proxy } from "../../src/proxy/proxy.ts";
import { LAST_GOOD_FILE } from "../../src/proxy/snapshot/last-good-file.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import { SNAPSHOT_KEY, type KvStore, type ProxyReport } from "../../src/transport/types.ts";
import { buildSnapshot } from "../proxy/proxy-harness.ts";

const logger = createLogger({ level: "silent" });

const snapshotBytes = (version: number, sim: Simulator, model = "qwen3:8b") =>
  toBinary(
    RoutingSnapshotSchema,
    buildSnapshot({ version, nodes: [{ id: "n1", url: sim.url }], routes: [{ name: "chat", variants: [{ name: "v", model }] }] }),
  );

async function chat(url: string): Promise<{ status: number; snapshot: number }> {
  const res = await request(`${url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "chat", stream: false, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.body.text();
  return { status: res.statusCode, snapshot: Number(res.headers["x-turnout-snapshot"]) };
}

/** A temp dir with a fresh empty store in it, a proxy data dir and a simulator; all removed by `close`. */
async function setup() {
  const dir = await mkdtemp(join(tmpdir(), "turnout-lastgood-"));
  const sim = await startSimulator({ models: ["qwen3:8b", "qwen3:32b"], ttftMs: 1, tokensPerSecond: 1000, outputTokens: 3 });
  const stores: KvStore[] = [];
  const proxies: Proxy[] = [];
  return {
    sim,
    dataDir: join(dir, "proxy"),
    store(name: string) {
      const s = createFileKvStore({ dir: join(dir, name), fsync: false });
      stores.push(s);
      return s;
    },
    async proxy(store: KvStore, onReport?: (r: ProxyReport) => void) {
      const p = await startProxy({ store, port: 0, logger, id: "p", dataDir: join(dir, "proxy"), onReport, closeGraceMs: 200 });
      proxies.push(p);
      return p;
    },
    /** Closes `p` now (its last good snapshot is written by then). */
    async closeProxy(p: Proxy) {
      proxies.splice(proxies.indexOf(p), 1);
      await p.close();
    },
    async close() {
      for (const p of proxies) await p.close();
      for (const s of stores) await s.close();
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test("a proxy restarted with a store that never delivers serves the last good snapshot from disk", async () => {
  const t = await setup();
  try {
    const first = t.store("first");
    const before = await t.proxy(first);
    // One encoding: the snapshot carries its creation time, so two builds can differ.
    const v7 = snapshotBytes(7, t.sim);
    await first.put(SNAPSHOT_KEY, v7);
    await before.waitForVersion(7, AbortSignal.timeout(5000));
    await t.closeProxy(before);
    assert.deepEqual(await readFile(join(t.dataDir, LAST_GOOD_FILE)), Buffer.from(v7), "the applied bytes, as received");

    // A fresh, empty store stands for a store that cannot be reached: nothing is ever delivered.
    const after = await t.proxy(t.store("empty"));
    assert.equal(after.version(), 7, "serving the disk copy as soon as startProxy returns");
    assert.deepEqual(await chat(after.url), { status: 200, snapshot: 7 });
  } finally {
    await t.close();
  }
});

test("versions from the store at or below the disk version are ignored; newer ones apply and replace the disk copy", async () => {
  const t = await setup();
  try {
    await mkdir(t.dataDir, { recursive: true });
    await writeFile(join(t.dataDir, LAST_GOOD_FILE), snapshotBytes(5, t.sim));
    const store = t.store("store");
    const reports: ProxyReport[] = [];
    const proxy = await t.proxy(store, (r) => reports.push(r));
    assert.equal(proxy.version(), 5);
    await store.put(SNAPSHOT_KEY, snapshotBytes(4, t.sim));
    const v6 = snapshotBytes(6, t.sim, "qwen3:32b");
    await store.put(SNAPSHOT_KEY, v6);
    await proxy.waitForVersion(6, AbortSignal.timeout(5000));
    assert.deepEqual(
      reports.map((r) => [r.version, r.state]),
      [
        [5, "ACK"],
        [6, "ACK"],
      ],
      "the disk copy is ACKed, version 4 ignored",
    );
    await t.closeProxy(proxy);
    assert.deepEqual(await readFile(join(t.dataDir, LAST_GOOD_FILE)), Buffer.from(v6));
  } finally {
    await t.close();
  }
});

test("a corrupt or inconsistent disk copy is ignored and the proxy waits for the store", async () => {
  const t = await setup();
  try {
    await mkdir(t.dataDir, { recursive: true });
    const file = join(t.dataDir, LAST_GOOD_FILE);
    const inconsistent = buildSnapshot({
      version: 3,
      nodes: [{ id: "n1", url: t.sim.url }],
      routes: [{ name: "chat", variants: [{ name: "v", model: "qwen3:8b" }] }],
    });
    inconsistent.contentHash = "0".repeat(64);
    const corrupt = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    for (const bytes of [corrupt, toBinary(RoutingSnapshotSchema, inconsistent)]) {
      await writeFile(file, bytes);
      const store = t.store(`store-${bytes.length}`);
      const proxy = await t.proxy(store);
      assert.equal(proxy.version(), 0);
      assert.equal((await chat(proxy.url)).status, 503);
      await store.put(SNAPSHOT_KEY, snapshotBytes(9, t.sim));
      await proxy.waitForVersion(9, AbortSignal.timeout(5000));
      assert.equal((await chat(proxy.url)).status, 200);
      await t.closeProxy(proxy);
    }
  } finally {
    await t.close();
  }
});
