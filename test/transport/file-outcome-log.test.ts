import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TurnoutError } from "../../src/errors.ts";
import { createFileOutcomeLog, type FileOutcomeLogOptions } from "../../src/transport/memory/file-outcome-log.ts";
import type { LogEntry } from "../../src/transport/types.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-log-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Takes `n` entries from a consume iterator. */
async function take(it: AsyncIterator<LogEntry>, n: number): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

function open(dir: string, extra: Partial<FileOutcomeLogOptions> = {}) {
  return createFileOutcomeLog({ dir, fsync: false, ...extra });
}

test("appended entries are consumed in order with increasing seqs, then new appends are tailed", async (t) => {
  const log = open(tempDir(t));
  t.after(() => log.close());
  await Promise.all(["a", "b", "c"].map((s) => log.append(`id-${s}`, bytes(s))));
  const ac = new AbortController();
  const it = log.consume("control", ac.signal)[Symbol.asyncIterator]();
  const first = await take(it, 3);
  assert.deepEqual(first.map((e) => [e.seq, text(e.data)]), [[1, "a"], [2, "b"], [3, "c"]]);
  const later = take(it, 2);
  await log.append("id-d", bytes("d"));
  await log.append("id-e", bytes("e"));
  assert.deepEqual((await later).map((e) => [e.seq, text(e.data)]), [[4, "d"], [5, "e"]]);
  const pending = it.next();
  ac.abort();
  assert.equal((await pending).done, true);
});

test("appending an id again stores it once, also across a reopen (the window is rebuilt from the log)", async (t) => {
  const dir = tempDir(t);
  const log = open(dir);
  await log.append("x", bytes("1"));
  await Promise.all([log.append("x", bytes("retry")), log.append("y", bytes("2")), log.append("y", bytes("retry"))]);
  assert.equal(log.stats().lastSeq, 2);
  await log.close();
  const reopened = open(dir);
  t.after(() => reopened.close());
  await reopened.append("x", bytes("late retry"));
  await reopened.append("z", bytes("3"));
  const ac = new AbortController();
  const all = await take(reopened.consume("c", ac.signal)[Symbol.asyncIterator](), 3);
  ac.abort();
  assert.deepEqual(all.map((e) => [e.seq, text(e.data)]), [[1, "1"], [2, "2"], [3, "3"]]);
});

test("a restart loses nothing and redelivers exactly the unacked entries, acked in any order", async (t) => {
  const dir = tempDir(t);
  const log = open(dir, { segmentBytes: 512 }); // several segments
  for (let i = 1; i <= 100; i++) await log.append(`r${i}`, bytes(`v${i}`));
  const ac = new AbortController();
  const it = log.consume("metrics", ac.signal)[Symbol.asyncIterator]();
  const got = await take(it, 100);
  const skipped = new Set([7, 50, 51, 99]);
  for (const e of [...got].reverse()) if (!skipped.has(e.seq)) e.ack();
  ac.abort();
  assert.equal((await it.next()).done, true);
  await log.close();

  const reopened = open(dir, { segmentBytes: 512 });
  t.after(() => reopened.close());
  const ac2 = new AbortController();
  const it2 = reopened.consume("metrics", ac2.signal)[Symbol.asyncIterator]();
  const again = await take(it2, 4);
  assert.deepEqual(again.map((e) => e.seq), [7, 50, 51, 99]);
  assert.deepEqual(again.map((e) => text(e.data)), ["v7", "v50", "v51", "v99"]);
  const next = take(it2, 1);
  await reopened.append("r101", bytes("v101"));
  assert.deepEqual((await next).map((e) => e.seq), [101], "appends after a restart continue the seqs");
  ac2.abort();
  // a consumer that never acked sees everything
  const ac3 = new AbortController();
  assert.equal((await take(reopened.consume("fresh", ac3.signal)[Symbol.asyncIterator](), 101)).length, 101);
  ac3.abort();
});

test("concurrent appends are group-committed: all stored once, each with its own seq", async (t) => {
  const log = open(tempDir(t), { segmentBytes: 4096 });
  t.after(() => log.close());
  await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append(`id${i % 800}`, bytes(String(i % 800)))));
  assert.equal(log.stats().lastSeq, 800);
  const ac = new AbortController();
  const all = await take(log.consume("c", ac.signal)[Symbol.asyncIterator](), 800);
  ac.abort();
  assert.deepEqual(all.map((e) => e.seq), Array.from({ length: 800 }, (_, i) => i + 1));
  assert.equal(new Set(all.map((e) => text(e.data))).size, 800);
});

test("a torn record at the tail (crash mid-write) is cut off on open and its seq reused", async (t) => {
  const dir = tempDir(t);
  const log = open(dir);
  await log.append("a", bytes("A"));
  await log.append("b", bytes("B"));
  await log.close();
  const segment = path.join(dir, "segments", fs.readdirSync(path.join(dir, "segments"))[0]);
  fs.appendFileSync(segment, Buffer.from([0, 0, 0, 40, 1, 2, 3])); // half a header of a third record
  const reopened = open(dir);
  t.after(() => reopened.close());
  assert.equal(reopened.stats().lastSeq, 2);
  await reopened.append("c", bytes("C"));
  const ac = new AbortController();
  const all = await take(reopened.consume("c", ac.signal)[Symbol.asyncIterator](), 3);
  ac.abort();
  assert.deepEqual(all.map((e) => [e.seq, text(e.data)]), [[1, "A"], [2, "B"], [3, "C"]]);
});

test("retention: segments acked by every known consumer are deleted; maxBytes bounds the disk regardless", async (t) => {
  const dir = tempDir(t);
  const log = open(dir, { segmentBytes: 256 });
  const a = new AbortController();
  const b = new AbortController();
  const ita = log.consume("a", a.signal)[Symbol.asyncIterator]();
  const itb = log.consume("b", b.signal)[Symbol.asyncIterator]();
  for (let i = 0; i < 60; i++) await log.append(`id${i}`, bytes("x".repeat(40)));
  const before = log.stats().segments;
  assert.ok(before >= 10, `expected many segments, got ${before}`);
  for (const e of await take(ita, 60)) e.ack();
  a.abort();
  await ita.next(); // ends after writing its acks
  assert.equal(log.stats().segments, before, "b has acked nothing: all kept");
  for (const e of await take(itb, 60)) e.ack();
  b.abort();
  await itb.next();
  await log.append("one-more", bytes("x")); // any later write or roll re-applies retention
  assert.ok(log.stats().segments <= 2, `acked segments deleted, ${log.stats().segments} left`);
  assert.equal(log.stats().lastSeq, 61);
  await log.close();

  const capped = open(tempDir(t), { segmentBytes: 256, maxBytes: 1024 });
  t.after(() => capped.close());
  for (let i = 0; i < 100; i++) await capped.append(`id${i}`, bytes("y".repeat(40)));
  assert.ok(capped.stats().bytes <= 1024 + 256, `bounded: ${capped.stats().bytes} bytes`);
  const firstRetained = capped.stats().firstSeq;
  assert.ok(firstRetained > 1, "the oldest segments are gone");
  const c = new AbortController();
  const first = await take(capped.consume("late", c.signal)[Symbol.asyncIterator](), 1);
  c.abort();
  assert.ok(first[0].seq >= firstRetained, "a consumer starts at the first retained entry");
});

test("close ends consumers and refuses appends with unavailable; bad consumer names are refused", async (t) => {
  const log = open(tempDir(t));
  const it = log.consume("c", new AbortController().signal)[Symbol.asyncIterator]();
  const pending = it.next();
  await log.close();
  assert.equal((await pending).done, true);
  await assert.rejects(log.append("x", bytes("x")), (e: unknown) => e instanceof TurnoutError && e.code === "unavailable");
  assert.throws(() => log.consume("a.b", new AbortController().signal), (e: unknown) => (e as TurnoutError).code === "invalid_argument");
});
