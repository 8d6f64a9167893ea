import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TurnoutError } from "../../src/errors.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import type { KvEntry, KvStore } from "../../src/transport/types.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-kv-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function rejectsAborted(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TurnoutError);
    assert.equal(err.code, "aborted");
    assert.match(err.message, pattern);
    return true;
  });
}

test("put, get, list and delete, with revisions increasing across the store", async (t) => {
  const store = createFileKvStore({ dir: path.join(tempDir(t), "nested", "data") });
  t.after(() => store.close());
  assert.equal(await store.get("nodes.a"), undefined);
  assert.equal(await store.put("nodes.b", bytes("B")), 1);
  assert.equal(await store.put("nodes.a", bytes("A")), 2);
  assert.equal(await store.put("routes.x", bytes("X")), 3);
  assert.equal(await store.put("nodes.a", bytes("A2")), 4);
  assert.deepEqual((await store.list("nodes.")).map((e) => [e.key, text(e.value), e.revision]), [
    ["nodes.a", "A2", 4],
    ["nodes.b", "B", 1],
  ]);
  await store.delete("nodes.a");
  assert.equal(await store.get("nodes.a"), undefined);
  await store.delete("nodes.a"); // missing: no-op
  assert.deepEqual((await store.list("")).map((e) => e.key), ["nodes.b", "routes.x"]);
});

test("keys with any characters are stored safely", async (t) => {
  const dir = tempDir(t);
  const store = createFileKvStore({ dir });
  const keys = ["routes.qwen3:32b", "routes.a/b/../c", "routes.Ünïcode 名前", "routes." + "x".repeat(500), "routes.A", "routes.a"];
  for (const k of keys) await store.put(k, bytes(k));
  await store.close();
  const reopened = createFileKvStore({ dir });
  t.after(() => reopened.close());
  for (const k of keys) assert.equal(text((await reopened.get(k))?.value), k);
});

test("compare-and-swap: 0 means must not exist, n means revision n, a mismatch is aborted naming the key", async (t) => {
  const store = createFileKvStore({ dir: tempDir(t) });
  t.after(() => store.close());
  const r1 = await store.put("k", bytes("1"), 0);
  await rejectsAborted(store.put("k", bytes("again"), 0), /^k: expected revision 0, but its revision is 1$/);
  const r2 = await store.put("k", bytes("2"), r1);
  await rejectsAborted(store.put("k", bytes("stale"), r1), new RegExp(`^k: expected revision ${r1}, but its revision is ${r2}$`));
  await rejectsAborted(store.delete("k", r1), /expected revision 1/);
  await rejectsAborted(store.put("missing", bytes("x"), 7), /^missing: expected revision 7, but the key does not exist$/);
  await rejectsAborted(store.delete("missing", 7), /missing: expected revision 7/);
  await store.delete("k", r2);
  assert.equal(await store.get("k"), undefined);
  assert.equal(text((await store.get("missing"))?.value), undefined, "a failed write changes nothing");
});

test("of concurrent compare-and-swap writes on the same revision exactly one wins", async (t) => {
  const store = createFileKvStore({ dir: tempDir(t) });
  t.after(() => store.close());
  const base = await store.put("counter", bytes("0"));
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.put("counter", bytes(String(i + 1)), base)));
  const won = results.filter((r) => r.status === "fulfilled");
  assert.equal(won.length, 1);
  for (const r of results) if (r.status === "rejected") assert.equal((r.reason as TurnoutError).code, "aborted");
  const entry = await store.get("counter");
  assert.equal(entry?.revision, (won[0] as PromiseFulfilledResult<number>).value);
});

test("a new store over the same directory sees the same entries and revisions, and continues counting", async (t) => {
  const dir = tempDir(t);
  const first = createFileKvStore({ dir });
  await first.put("a", bytes("A"));
  const rb = await first.put("b", bytes("B"));
  await first.put("c", bytes("C"));
  await first.delete("c"); // the last write is a delete: its revision must not be reused
  await first.close();
  await assert.rejects(first.put("a", bytes("late")), (e: unknown) => (e as TurnoutError).code === "unavailable");

  const second = createFileKvStore({ dir });
  t.after(() => second.close());
  assert.deepEqual((await second.list("")).map((e) => [e.key, text(e.value), e.revision]), [
    ["a", "A", 1],
    ["b", "B", rb],
  ]);
  assert.equal(await second.put("d", bytes("D")), 5);
  await second.put("b", bytes("B2"), rb);
});

test("temp files left by an interrupted write are ignored and removed", async (t) => {
  const dir = tempDir(t);
  const store = createFileKvStore({ dir });
  await store.put("a", bytes("A"));
  await store.close();
  const stray = path.join(dir, "entries", "deadbeef.json.tmp-1-0");
  fs.writeFileSync(stray, "{ half a wri");
  const reopened = createFileKvStore({ dir });
  t.after(() => reopened.close());
  assert.equal(fs.existsSync(stray), false);
  assert.deepEqual((await reopened.list("")).map((e) => e.key), ["a"]);
});

async function take(it: AsyncIterator<KvEntry>, n: number): Promise<KvEntry[]> {
  const out: KvEntry[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

test("watch yields the current value first, then later writes and deletes, and ends when aborted", async (t) => {
  const store: KvStore = createFileKvStore({ dir: tempDir(t) });
  t.after(() => store.close());
  await store.put("snap", bytes("v1"));
  await store.put("other", bytes("x"));
  const ac = new AbortController();
  const it = store.watch("snap", ac.signal)[Symbol.asyncIterator]();
  assert.deepEqual((await take(it, 1)).map((e) => text(e.value)), ["v1"]);
  const next = take(it, 3);
  await store.put("other", bytes("y"));
  await store.put("snap", bytes("v2"));
  await store.put("snap", bytes("v3"));
  await store.delete("snap");
  const seen = await next;
  assert.deepEqual(seen.map((e) => [text(e.value), e.deleted ?? false]), [["v2", false], ["v3", false], ["", true]]);
  assert.ok(seen[0].revision < seen[1].revision && seen[1].revision < seen[2].revision);
  const pending = it.next();
  ac.abort();
  assert.equal((await pending).done, true);
});

test("watch of a missing key waits for its first write; closing the store ends watchers", async (t) => {
  const store = createFileKvStore({ dir: tempDir(t) });
  const it = store.watch("later", new AbortController().signal)[Symbol.asyncIterator]();
  const first = it.next();
  await store.put("later", bytes("now"));
  assert.equal(text((await first).value?.value), "now");
  const pending = it.next();
  await store.close();
  assert.equal((await pending).done, true);
  const ac = new AbortController();
  ac.abort();
  const done = await store.watch("later", ac.signal)[Symbol.asyncIterator]().next();
  assert.equal(done.done, true);
});
