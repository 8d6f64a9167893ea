/**
 * The KvStore behaviour every implementation must have (the file store of embedded mode and the
 * JetStream KV store of distributed mode): `runKvStoreSuite(label, open)` registers the cases,
 * each on a fresh, empty store from `open`.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { TurnoutError } from "../../src/errors.ts";
import type { KvEntry, KvStore } from "../../src/transport/types.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TurnoutError, `expected a TurnoutError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

async function take(it: AsyncIterator<KvEntry>, n: number): Promise<KvEntry[]> {
  const out: KvEntry[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

/** Registers the shared KvStore cases; `open` gives a fresh empty store (closed by the case). */
export function runKvStoreSuite(label: string, open: (t: TestContext) => Promise<KvStore>): void {
  test(`${label}: put, get, list and delete, with revisions increasing across the store`, async (t) => {
    const store = await open(t);
    t.after(() => store.close());
    assert.equal(await store.get("nodes.a"), undefined);
    const r1 = await store.put("nodes.b", bytes("B"));
    const r2 = await store.put("nodes.a", bytes("A"));
    const r3 = await store.put("routes.x", bytes("X"));
    const r4 = await store.put("nodes.a", bytes("A2"));
    assert.ok(r1 > 0 && r1 < r2 && r2 < r3 && r3 < r4);
    assert.deepEqual(
      (await store.list("nodes.")).map((e) => [e.key, text(e.value), e.revision]),
      [
        ["nodes.a", "A2", r4],
        ["nodes.b", "B", r1],
      ],
    );
    assert.deepEqual(
      (await store.list("rou")).map((e) => e.key),
      ["routes.x"],
    );
    assert.equal((await store.get("routes.x"))?.revision, r3);
    await store.delete("nodes.a");
    assert.equal(await store.get("nodes.a"), undefined);
    await store.delete("nodes.a"); // missing: no-op
    await store.delete("never.there");
    assert.deepEqual(
      (await store.list("")).map((e) => e.key),
      ["nodes.b", "routes.x"],
    );
    assert.deepEqual(await store.list("nothing."), []);
  });

  test(`${label}: keys with any characters round-trip and list under their prefix`, async (t) => {
    const store = await open(t);
    t.after(() => store.close());
    const keys = [
      "routes.qwen3:32b",
      "routes.a/b/../c",
      "routes.Ünïcode 名前",
      `routes.${"x".repeat(200)}`,
      "routes.A",
      "routes.a",
      "routes.=x",
      "routes..double",
      "routes.",
      "meta.route-since",
      "snapshot.current",
      "settings",
    ];
    for (const k of keys) await store.put(k, bytes(k));
    for (const k of keys) assert.equal(text((await store.get(k))?.value), k);
    assert.deepEqual(
      (await store.list("routes.")).map((e) => e.key),
      keys.filter((k) => k.startsWith("routes.")).sort(),
    );
  });

  test(`${label}: compare-and-swap: 0 means must not exist, n means revision n, a mismatch is aborted naming the key`, async (t) => {
    const store = await open(t);
    t.after(() => store.close());
    const r1 = await store.put("k", bytes("1"), 0);
    await rejectsWith(
      store.put("k", bytes("again"), 0),
      "aborted",
      new RegExp(`^k: expected revision 0, but its revision is ${r1}$`),
    );
    const r2 = await store.put("k", bytes("2"), r1);
    await rejectsWith(
      store.put("k", bytes("stale"), r1),
      "aborted",
      new RegExp(`^k: expected revision ${r1}, but its revision is ${r2}$`),
    );
    await rejectsWith(store.delete("k", r1), "aborted", new RegExp(`^k: expected revision ${r1}, but its revision is ${r2}$`));
    await rejectsWith(store.delete("k", 0), "aborted", /^k: expected revision 0/);
    await rejectsWith(
      store.put("missing", bytes("x"), 7777),
      "aborted",
      /^missing: expected revision 7777, but the key does not exist$/,
    );
    await rejectsWith(store.delete("missing", 7777), "aborted", /^missing: expected revision 7777, but the key does not exist$/);
    await store.delete("missing", 0); // must not exist, and does not: nothing to do
    await store.delete("k", r2);
    assert.equal(await store.get("k"), undefined);
    assert.equal(await store.get("missing"), undefined, "a failed write changes nothing");
    const r3 = await store.put("k", bytes("3"), 0); // a deleted key can be created again
    assert.equal(text((await store.get("k"))?.value), "3");
    assert.equal((await store.get("k"))?.revision, r3);
  });

  test(`${label}: of concurrent compare-and-swap writes on the same revision exactly one wins`, async (t) => {
    const store = await open(t);
    t.after(() => store.close());
    const base = await store.put("counter", bytes("0"));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.put("counter", bytes(String(i + 1)), base)),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === "rejected") assert.equal((r.reason as TurnoutError).code, "aborted");
    assert.equal((await store.get("counter"))?.revision, (won[0] as PromiseFulfilledResult<number>).value);
    const creates = await Promise.allSettled(Array.from({ length: 10 }, () => store.put("fresh", bytes("x"), 0)));
    assert.equal(creates.filter((r) => r.status === "fulfilled").length, 1);
  });

  test(`${label}: watch yields the current value first, then later writes and deletes, and ends when aborted`, async (t) => {
    const store = await open(t);
    t.after(() => store.close());
    await store.put("snap", bytes("v1"));
    await store.put("other", bytes("x"));
    const ac = new AbortController();
    const it = store.watch("snap", ac.signal)[Symbol.asyncIterator]();
    assert.deepEqual(
      (await take(it, 1)).map((e) => text(e.value)),
      ["v1"],
    );
    const next = take(it, 3);
    await store.put("other", bytes("y"));
    await store.put("snap", bytes("v2"));
    await store.put("snap", bytes("v3"));
    await store.delete("snap");
    const seen = await next;
    assert.deepEqual(
      seen.map((e) => [e.key, text(e.value), e.deleted ?? false]),
      [
        ["snap", "v2", false],
        ["snap", "v3", false],
        ["snap", "", true],
      ],
    );
    assert.ok(seen[0].revision < seen[1].revision && seen[1].revision < seen[2].revision);
    const pending = it.next();
    ac.abort();
    assert.equal((await pending).done, true);
  });

  test(`${label}: watch of a missing key waits for its first write; closing the store ends watchers and refuses writes`, async (t) => {
    const store = await open(t);
    const it = store.watch("routes.qwen3:32b", new AbortController().signal)[Symbol.asyncIterator]();
    const first = it.next();
    await store.put("routes.qwen3:32b", bytes("now"));
    assert.equal(text((await first).value?.value), "now");
    const pending = it.next();
    await store.close();
    assert.equal((await pending).done, true);
    await rejectsWith(store.put("x", bytes("late")), "unavailable", /closed/);
    const ac = new AbortController();
    ac.abort();
    assert.equal((await store.watch("later", ac.signal)[Symbol.asyncIterator]().next()).done, true);
  });
}
