import { readdir, readFile } from "node:fs/promises";
import { test } from "node:test";
import assert from "node:assert/strict";
import { TurnoutError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { connectNats } from "../../src/transport/nats/nats-connection.ts";
import { createNatsKvStore } from "../../src/transport/nats/nats-kv-store.ts";
import type { KvEntry } from "../../src/transport/types.ts";
import { startNatsServer } from "../support/nats-server.ts";
import { until } from "../support/until.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Resolves once /proc shows every thread of `pid` stopped (state T). */
async function stopped(pid: number): Promise<void> {
  let states: string[] = [];
  await until(
    () => `nats-server ${pid} to stop: thread states ${states.join("")}`,
    async () => {
      const tasks = await readdir(`/proc/${pid}/task`);
      states = await Promise.all(
        tasks.map(async (t) => (await readFile(`/proc/${pid}/task/${t}/stat`, "utf8")).replace(/^.*\) /s, "")[0]),
      );
      return states.every((st) => st === "T" || st === "t");
    },
    { timeoutMs: 5000, intervalMs: 0 },
  );
}

async function rejectsUnavailable(p: Promise<unknown>): Promise<number> {
  const started = performance.now();
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TurnoutError, String(err));
    assert.equal(err.code, "unavailable");
    assert.match(err.message, /^NATS is unreachable: /);
    return true;
  });
  return performance.now() - started;
}

test("a watch survives a nats-server kill and restart; writes while NATS is down fail fast with unavailable", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const logger = createLogger();
  const link = await connectNats({ servers: server.url, name: "outage", logger });
  t.after(() => link.close());
  const store = await createNatsKvStore({ link, logger });
  t.after(() => store.close());

  await store.put("snapshot.current", bytes("v1"));
  const ac = new AbortController();
  t.after(() => ac.abort());
  const it = store.watch("snapshot.current", ac.signal)[Symbol.asyncIterator]();
  assert.equal(text((await it.next()).value.value), "v1");

  await server.kill();
  const downFor = await rejectsUnavailable(store.put("snapshot.current", bytes("lost")));
  assert.ok(downFor < 2500, `a write while NATS is down took ${downFor} ms to fail`);
  await rejectsUnavailable(store.get("snapshot.current"));

  await server.restart();
  await link.whenConnected();
  const r2 = await store.put("snapshot.current", bytes("v2"));
  const after = (await it.next()).value as KvEntry;
  assert.equal(text(after.value), "v2", "the watch resumed after the restart");
  assert.equal(after.revision, r2);
  await store.put("snapshot.current", bytes("v3"));
  assert.equal(text((await it.next()).value.value), "v3");
  assert.equal(text((await store.get("snapshot.current"))!.value), "v3", "the write made while down was not applied later");
});

test("a write fails within the request timeout when the outage is not noticed yet (server frozen)", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const logger = createLogger();
  const link = await connectNats({ servers: server.url, name: "frozen", logger, requestTimeoutMs: 1000 });
  t.after(() => link.close());
  const store = await createNatsKvStore({ link, logger });
  t.after(() => store.close());
  await store.put("k", bytes("1"));
  const pid = server.pid();
  process.kill(pid, "SIGSTOP");
  try {
    // The stop takes effect when the kernel runs the server's signal handling, which on a busy
    // machine can come after a thread woken by our write; wait until every thread is stopped.
    await stopped(pid);
    const took = await rejectsUnavailable(store.put("k", bytes("2")));
    assert.ok(took >= 900 && took < 2000, `failed after ${took} ms`);
  } finally {
    process.kill(pid, "SIGCONT");
  }
});

test("with waitForFirstConnect the link comes up when NATS does; until then operations are unavailable", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  await server.kill();
  const logger = createLogger();
  const link = await connectNats({ servers: server.url, name: "late", logger, waitForFirstConnect: true });
  t.after(() => link.close());
  assert.equal(link.connected(), false);
  const store = await createNatsKvStore({ link, logger });
  t.after(() => store.close());
  await rejectsUnavailable(store.put("k", bytes("x")));
  const ac = new AbortController();
  t.after(() => ac.abort());
  const first = store.watch("k", ac.signal)[Symbol.asyncIterator]().next();
  await server.restart();
  await link.whenConnected();
  await store.put("k", bytes("hello"));
  assert.equal(text((await first).value.value), "hello");
});

test("a transport closes promptly while NATS is down, ending its watches", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const logger = createLogger();
  const link = await connectNats({ servers: server.url, name: "closing", logger });
  const store = await createNatsKvStore({ link, logger });
  const watching = store.watch("k", new AbortController().signal)[Symbol.asyncIterator]().next();
  await server.kill();
  const started = performance.now();
  await store.close();
  await link.close();
  assert.equal((await watching).done, true);
  assert.ok(performance.now() - started < 2500);
});
