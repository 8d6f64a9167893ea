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
  assert.deepEqual(
    first.map((e) => [e.seq, text(e.data)]),
    [
      [1, "a"],
      [2, "b"],
      [3, "c"],
    ],
  );
  const later = take(it, 2);
  await log.append("id-d", bytes("d"));
  await log.append("id-e", bytes("e"));
  assert.deepEqual(
    (await later).map((e) => [e.seq, text(e.data)]),
    [
      [4, "d"],
      [5, "e"],
    ],
  );
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
  assert.deepEqual(
    all.map((e) => [e.seq, text(e.data)]),
    [
      [1, "1"],
      [2, "2"],
      [3, "3"],
    ],
  );
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
  assert.deepEqual(
    again.map((e) => e.seq),
    [7, 50, 51, 99],
  );
  assert.deepEqual(
    again.map((e) => text(e.data)),
    ["v7", "v50", "v51", "v99"],
  );
  const next = take(it2, 1);
  await reopened.append("r101", bytes("v101"));
  assert.deepEqual(
    (await next).map((e) => e.seq),
    [101],
    "appends after a restart continue the seqs",
  );
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
  assert.deepEqual(
    all.map((e) => e.seq),
    Array.from({ length: 800 }, (_, i) => i + 1),
  );
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
  assert.deepEqual(
    all.map((e) => [e.seq, text(e.data)]),
    [
      [1, "A"],
      [2, "B"],
      [3, "C"],
    ],
  );
});

test("retention: segments acked by every known consumer are deleted (keepAckedMs 0); maxBytes bounds the disk regardless", async (t) => {
  const dir = tempDir(t);
  const log = open(dir, { segmentBytes: 256, keepAckedMs: 0 });
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

/** Sets the last-write time of every segment file in `dir` to `ms` ago. */
function ageSegments(dir: string, ms: number): void {
  const segments = path.join(dir, "segments");
  const when = new Date(Date.now() - ms);
  for (const name of fs.readdirSync(segments)) fs.utimesSync(path.join(segments, name), when, when);
}

/** Every entry `replay` yields, as [seq, text]. */
async function replayAll(
  log: { replay: (c: string, since: number, s: AbortSignal) => AsyncIterable<{ seq: number; data: Uint8Array }> },
  consumer: string,
  sinceMs: number,
) {
  const out: [number, string][] = [];
  for await (const e of log.replay(consumer, sinceMs, new AbortController().signal)) out.push([e.seq, text(e.data)]);
  return out;
}

test("retention keeps acked segments for keepAckedMs after their last write (default 1 hour), then deletes them", async (t) => {
  const dir = tempDir(t);
  const log = open(dir, { segmentBytes: 256 });
  const ac = new AbortController();
  const it = log.consume("c", ac.signal)[Symbol.asyncIterator]();
  for (let i = 0; i < 60; i++) await log.append(`id${i}`, bytes("x".repeat(40)));
  for (const e of await take(it, 60)) e.ack();
  ac.abort();
  await it.next(); // acks written
  await log.append("one-more", bytes("x"));
  const segments = log.stats().segments;
  assert.ok(segments >= 10, `acked but recent: all ${segments} segments kept`);
  assert.equal((await replayAll(log, "c", 0)).length, 60, "everything acked can be replayed");
  await log.close();

  ageSegments(dir, 3600_000 + 60_000); // the segments were last written over an hour ago
  const reopened = open(dir, { segmentBytes: 256 });
  t.after(() => reopened.close());
  for (let i = 0; i < 10; i++) await reopened.append(`late${i}`, bytes("y".repeat(40))); // rolls: retention runs
  assert.ok(
    reopened.stats().segments < segments,
    `acked segments older than an hour deleted: ${reopened.stats().segments} of ${segments} left`,
  );
  assert.ok(reopened.stats().firstSeq > 1);
});

test("replay yields, oldest first, exactly the entries the consumer acked (also out of order, also after a reopen), without moving the consumer", async (t) => {
  const dir = tempDir(t);
  const log = open(dir, { segmentBytes: 256 });
  for (let i = 1; i <= 30; i++) await log.append(`id${i}`, bytes(String(i)));
  const ac = new AbortController();
  const it = log.consume("c", ac.signal)[Symbol.asyncIterator]();
  const got = await take(it, 30);
  for (const e of got.slice(0, 20)) e.ack(); // floor 20
  got[24].ack(); // and 25 out of order
  ac.abort();
  await it.next();
  const expected: [number, string][] = [
    ...Array.from({ length: 20 }, (_, i): [number, string] => [i + 1, String(i + 1)]),
    [25, "25"],
  ];
  assert.deepEqual(await replayAll(log, "c", 0), expected);
  assert.deepEqual(await replayAll(log, "unknown", 0), [], "an unknown consumer has nothing to replay");
  await log.close();

  const reopened = open(dir, { segmentBytes: 256 });
  t.after(() => reopened.close());
  assert.deepEqual(await replayAll(reopened, "c", 0), expected, "acks and segments are read back from disk");
  const ac2 = new AbortController();
  const rest = await take(reopened.consume("c", ac2.signal)[Symbol.asyncIterator](), 9);
  ac2.abort();
  assert.deepEqual(
    rest.map((e) => e.seq),
    [21, 22, 23, 24, 26, 27, 28, 29, 30],
    "consume still yields exactly the unacked entries",
  );
});

test("replay skips segments last written before sinceMs (segment granularity) and stops when the signal aborts", async (t) => {
  const dir = tempDir(t);
  const first = open(dir, { segmentBytes: 256 });
  for (let i = 1; i <= 20; i++) await first.append(`old${i}`, bytes(`old${i}`));
  const ac = new AbortController();
  const it = first.consume("c", ac.signal)[Symbol.asyncIterator]();
  for (const e of await take(it, 20)) e.ack();
  ac.abort();
  await it.next();
  await first.close();
  ageSegments(dir, 2 * 3600_000); // written two hours ago

  const log = open(dir, { segmentBytes: 256, keepAckedMs: 3 * 3600_000 });
  t.after(() => log.close());
  const oldSegments = log.stats().segments;
  const since = Date.now() - 3600_000;
  for (let i = 1; i <= 20; i++) await log.append(`new${i}`, bytes(`new${i}`));
  assert.ok(log.stats().segments > oldSegments, "new entries went into new segments");
  const ac2 = new AbortController();
  const it2 = log.consume("c", ac2.signal)[Symbol.asyncIterator]();
  for (const e of await take(it2, 20)) e.ack();
  ac2.abort();
  await it2.next();

  const replayed = await replayAll(log, "c", since);
  // the segment being written when the log was reopened got new entries: it comes whole
  assert.ok(
    replayed.every((_, i) => i === 0 || replayed[i - 1][0] < replayed[i][0]),
    "oldest first",
  );
  assert.deepEqual(
    replayed.filter(([, s]) => s.startsWith("new")).map(([seq]) => seq),
    Array.from({ length: 20 }, (_, i) => 21 + i),
  );
  assert.ok(replayed.filter(([, s]) => s.startsWith("old")).length < 20, "segments written only before sinceMs are skipped");
  assert.equal((await replayAll(log, "c", 0)).length, 40, "a sinceMs before everything replays all 40");

  const stop = new AbortController();
  let n = 0;
  for await (const _ of log.replay("c", 0, stop.signal)) if (++n === 5) stop.abort();
  assert.equal(n, 5, "nothing is yielded after the signal aborts");
});

test("close ends consumers and refuses appends with unavailable; bad consumer names are refused", async (t) => {
  const log = open(tempDir(t));
  const it = log.consume("c", new AbortController().signal)[Symbol.asyncIterator]();
  const pending = it.next();
  await log.close();
  assert.equal((await pending).done, true);
  await assert.rejects(log.append("x", bytes("x")), (e: unknown) => e instanceof TurnoutError && e.code === "unavailable");
  assert.throws(
    () => log.consume("a.b", new AbortController().signal),
    (e: unknown) => (e as TurnoutError).code === "invalid_argument",
  );
});
