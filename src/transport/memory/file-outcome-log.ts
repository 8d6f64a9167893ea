/**
 * The embedded OutcomeLog: an append-only log in files, with the semantics of the JetStream
 * stream + durable consumer used in distributed mode, so a restart of the process loses nothing
 * and redelivers only unacked entries.
 *
 * Layout of `dir`:
 * - `segments/<first seq, 16 digits>.log`: records (see log-record.ts: length, crc32, seq, id,
 *   data). Appends are group-committed: every append waiting while a write runs goes into the
 *   next batch, written with one `write` and one `fsync`. A segment is sealed once it reaches
 *   `segmentBytes`; a torn record at the tail of the last segment (crash mid-write) is cut off
 *   on open.
 * - `consumers/<name>.json`: each durable consumer's ack floor and out-of-order acks.
 *
 * Dedupe: the ids of the last `dedupeWindow` appended records (rebuilt from the segments on
 * open) are remembered; appending a remembered id again stores nothing and succeeds.
 *
 * Retention (disk stays bounded): a sealed segment is deleted once every known consumer has
 * acked all of it AND its last write is older than `keepAckedMs` (default 1 hour), so a restarted
 * reader can still `replay` the last hour it had processed; regardless of acks, sealed segments
 * whose last write is older than `maxAgeMs` and the oldest sealed segments beyond `maxBytes` in
 * total are deleted too (like the stream's limits in distributed mode: a consumer that was away
 * that long misses them). The segment being written is never deleted. Retention runs when a
 * segment is sealed and after consumer acks are written.
 *
 * Redelivery: a consumer sees every unacked entry again when it consumes again (after a restart
 * or a new `consume` call); within one `consume` call each entry is yielded once.
 *
 * Replay: `replay(consumer, sinceMs)` yields the entries the consumer has acked (its floor and
 * the out-of-order acks above it, exactly as stored) from every retained segment whose last write
 * is at or after `sinceMs`. Records carry no timestamp, so the time bound has segment granularity:
 * a segment written to since `sinceMs` is replayed whole (its older entries come along).
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { LogEntry, OutcomeLog, ReplayedEntry } from "../types.ts";
import { checkConsumerName, consumerOffsets, loadConsumerOffsets, type ConsumerOffsets } from "./consumer-offsets.ts";
import { decodeRecords, encodeRecord, type LogRecord } from "./log-record.ts";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../../private-files.ts";

/** Options of {@link createFileOutcomeLog}. */
export interface FileOutcomeLogOptions {
  /** Data directory; created (with parents) when missing. */
  dir: string;
  /** fsync each append batch, new segments and consumer files. Default true. */
  fsync?: boolean;
  /** Size at which a segment is sealed and a new one started, in bytes. Default 4 MiB. */
  segmentBytes?: number;
  /** How many recent ids are remembered for dedupe. Default 100000. */
  dedupeWindow?: number;
  /** Sealed segments whose last write is older than this are deleted, in ms. Default 7 days. */
  maxAgeMs?: number;
  /** Total size above which the oldest sealed segments are deleted, in bytes. Default 1 GiB. */
  maxBytes?: number;
  /**
   * How long a sealed segment every consumer has acked is kept after its last write, in ms, so a
   * restarted consumer can `replay` what it had processed (the control plane rebuilds its last hour
   * of metrics from it). `maxAgeMs` and `maxBytes` still apply. Default 3600000 (1 hour).
   */
  keepAckedMs?: number;
}

/** The file outcome log; `close()` finishes pending appends and ack writes. */
export interface FileOutcomeLog extends OutcomeLog {
  /** First and last seq on disk (last = first - 1 when empty) and the segment count. */
  stats(): { firstSeq: number; lastSeq: number; segments: number; bytes: number };
  close(): Promise<void>;
}

interface Segment {
  start: number;
  file: string;
  size: number;
  mtimeMs: number;
}

interface Pending {
  id: string;
  data: Uint8Array;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const SEGMENT = /^(\d{16})\.log$/;
const READ_CHUNK = 1 << 20;

function segmentName(start: number): string {
  return `${String(start).padStart(16, "0")}.log`;
}

function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Opens (or creates) the log in `options.dir`. Loading is synchronous: the log is ready on return. */
export function createFileOutcomeLog(options: FileOutcomeLogOptions): FileOutcomeLog {
  const dir = path.resolve(options.dir);
  const segDir = path.join(dir, "segments");
  const sync = options.fsync ?? true;
  const segmentBytes = options.segmentBytes ?? 4 << 20;
  const window = options.dedupeWindow ?? 100_000;
  const maxAgeMs = options.maxAgeMs ?? 7 * 24 * 3600_000;
  const maxBytes = options.maxBytes ?? 1 << 30;
  const keepAckedMs = options.keepAckedMs ?? 3600_000;

  // ---- load -------------------------------------------------------------------------------
  fs.mkdirSync(segDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const segments: Segment[] = fs
    .readdirSync(segDir)
    .flatMap((name) => {
      const m = SEGMENT.exec(name);
      if (m === null) return [];
      const file = path.join(segDir, name);
      const st = fs.statSync(file);
      return [{ start: Number(m[1]), file, size: st.size, mtimeMs: st.mtimeMs }];
    })
    .sort((a, b) => a.start - b.start);
  if (segments.length === 0) {
    const file = path.join(segDir, segmentName(1));
    fs.writeFileSync(file, "", { mode: PRIVATE_FILE_MODE });
    if (sync) fsyncDirSync(segDir);
    segments.push({ start: 1, file, size: 0, mtimeMs: Date.now() });
  }
  const ids = new Set<string>();
  let nextSeq = 0;
  {
    const perSegment: string[][] = [];
    let collected = 0;
    for (let i = segments.length - 1; i >= 0; i--) {
      const seg = segments[i];
      const decoded = decodeRecords(fs.readFileSync(seg.file));
      if (i === segments.length - 1) {
        if (decoded.consumed < seg.size) {
          fs.truncateSync(seg.file, decoded.consumed); // a torn or corrupt tail: cut it off
          seg.size = decoded.consumed;
        }
        nextSeq = decoded.records.length > 0 ? decoded.records[decoded.records.length - 1].seq + 1 : seg.start;
      }
      if (collected < window) {
        perSegment.push(decoded.records.map((r) => r.id));
        collected += decoded.records.length;
      }
    }
    const all = perSegment.reverse().flat();
    for (const id of all.slice(Math.max(0, all.length - window))) ids.add(id);
  }
  let active = segments[segments.length - 1];
  let activeFd: fsp.FileHandle | undefined;

  const consumersDir = path.join(dir, "consumers");
  const consumers = loadConsumerOffsets(consumersDir, sync, () => void serial(applyRetention).catch(() => undefined));

  // ---- state ------------------------------------------------------------------------------
  let closed = false;
  let pending: Pending[] = [];
  let flushing: Promise<void> | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  const waiters = new Set<() => void>();

  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  }

  function wakeAll(): void {
    for (const wake of [...waiters]) wake();
    waiters.clear();
  }

  const lastSeq = () => nextSeq - 1;
  const firstSeq = () => segments[0].start;

  // ---- append -----------------------------------------------------------------------------
  function remember(id: string): void {
    ids.add(id);
    if (ids.size > window) ids.delete(ids.values().next().value as string);
  }

  async function writeBatch(batch: Pending[]): Promise<void> {
    const buffers: Buffer[] = [];
    const fresh: string[] = [];
    const inBatch = new Set<string>();
    let seq = nextSeq;
    for (const p of batch) {
      if (ids.has(p.id) || inBatch.has(p.id)) continue;
      inBatch.add(p.id);
      buffers.push(encodeRecord(seq, p.id, p.data));
      fresh.push(p.id);
      seq++;
    }
    if (buffers.length === 0) return;
    if (active.size >= segmentBytes) await roll();
    activeFd ??= await fsp.open(active.file, "a");
    const bytes = Buffer.concat(buffers);
    try {
      await activeFd.write(bytes);
      if (sync) await activeFd.sync();
    } catch (err) {
      await activeFd.truncate(active.size).catch(() => undefined);
      throw err;
    }
    active.size += bytes.length;
    active.mtimeMs = Date.now();
    nextSeq = seq;
    for (const id of fresh) remember(id);
  }

  async function roll(): Promise<void> {
    await activeFd?.close();
    activeFd = undefined;
    const file = path.join(segDir, segmentName(nextSeq));
    await fsp.writeFile(file, "", { mode: PRIVATE_FILE_MODE });
    if (sync) fsyncDirSync(segDir);
    active = { start: nextSeq, file, size: 0, mtimeMs: Date.now() };
    segments.push(active);
    await applyRetention();
  }

  async function flushLoop(): Promise<void> {
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        await serial(() => writeBatch(batch));
        for (const p of batch) p.resolve();
      } catch (cause) {
        const err = new TurnoutError(ErrorCode.Unavailable, `outcome log in ${dir}: append failed`, { cause });
        for (const p of batch) p.reject(err);
      }
      wakeAll();
    }
    flushing = undefined;
  }

  // ---- retention --------------------------------------------------------------------------
  async function applyRetention(): Promise<void> {
    const now = Date.now();
    let total = segments.reduce((n, s) => n + s.size, 0);
    const minFloor = consumers.size === 0 ? 0 : Math.min(...[...consumers.values()].map((c) => c.floor()));
    while (segments.length > 1) {
      const seg = segments[0];
      const last = segments[1].start - 1;
      const acked = consumers.size > 0 && minFloor >= last && now - seg.mtimeMs > keepAckedMs;
      if (!acked && now - seg.mtimeMs <= maxAgeMs && total <= maxBytes) break;
      await fsp.rm(seg.file, { force: true });
      segments.shift();
      total -= seg.size;
    }
  }

  // ---- consume ----------------------------------------------------------------------------
  /** Reads the complete records of `seg` from `offset` (at most a chunk, at least one record). */
  async function readAt(seg: Segment, offset: number): Promise<{ records: LogRecord[]; consumed: number }> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(seg.file, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { records: [], consumed: seg.size - offset }; // deleted
      throw err;
    }
    try {
      let length = Math.min(seg.size - offset, READ_CHUNK);
      let { buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, offset);
      let decoded = decodeRecords(buffer.subarray(0, length));
      if (decoded.records.length === 0 && decoded.nextLength !== undefined) {
        length = decoded.nextLength;
        ({ buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, offset));
        decoded = decodeRecords(buffer.subarray(0, length));
      }
      // an unreadable rest of a segment is skipped
      return decoded.records.length === 0 ? { records: [], consumed: seg.size - offset } : decoded;
    } finally {
      await handle.close();
    }
  }

  /** Yields the entries `offsets` has not acked; holds no file open while suspended at a yield. */
  async function* read(offsets: ConsumerOffsets, signal: AbortSignal): AsyncGenerator<LogEntry> {
    let cursor = { start: -1, offset: 0 };
    const onAbort = () => wakeAll();
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted && !closed) {
        if (offsets.floor() < firstSeq() - 1) offsets.skipTo(firstSeq() - 1);
        let index = segments.findIndex((s) => s.start === cursor.start);
        if (index < 0) {
          // first read, or our segment was deleted: the segment holding the first unacked seq
          const from = offsets.floor() + 1;
          index = Math.max(
            0,
            segments.findLastIndex((s) => s.start <= from),
          );
          cursor = { start: segments[index].start, offset: 0 };
        }
        const seg = segments[index];
        if (cursor.offset >= seg.size) {
          if (index + 1 < segments.length) cursor = { start: segments[index + 1].start, offset: 0 };
          else await new Promise<void>((resolve) => waiters.add(resolve));
          continue;
        }
        const { records, consumed } = await readAt(seg, cursor.offset);
        cursor.offset += consumed;
        for (const r of records) {
          if (offsets.isAcked(r.seq)) continue;
          if (signal.aborted || closed) return;
          yield { data: r.data, seq: r.seq, ack: () => offsets.ack(r.seq) };
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      await offsets.flush().catch(() => undefined);
    }
  }

  /** Yields the entries `offsets` has acked in the segments written to since `sinceMs`. */
  async function* replayAcked(offsets: ConsumerOffsets, sinceMs: number, signal: AbortSignal): AsyncGenerator<ReplayedEntry> {
    const until = offsets.lastAcked();
    const chosen = segments.filter((s) => s.mtimeMs >= sinceMs && s.start <= until);
    for (const seg of chosen) {
      let offset = 0;
      while (offset < seg.size) {
        if (signal.aborted || closed) return;
        const { records, consumed } = await readAt(seg, offset);
        offset += consumed;
        for (const r of records) {
          if (r.seq > until) return;
          if (!offsets.isAcked(r.seq)) continue;
          if (signal.aborted || closed) return;
          yield { data: r.data, seq: r.seq };
        }
      }
    }
  }

  return {
    append(id, data) {
      if (closed) return Promise.reject(new TurnoutError(ErrorCode.Unavailable, `outcome log in ${dir} is closed`));
      return new Promise<void>((resolve, reject) => {
        pending.push({ id, data, resolve, reject });
        flushing ??= flushLoop();
      });
    },

    consume(consumer, signal) {
      checkConsumerName(consumer);
      let offsets = consumers.get(consumer);
      let created: Promise<void> | undefined;
      if (offsets === undefined) {
        offsets = consumerOffsets(
          consumersDir,
          consumer,
          { floor: 0, above: [] },
          sync,
          () => void serial(applyRetention).catch(() => undefined),
        );
        consumers.set(consumer, offsets);
        created = offsets.save();
      }
      const o = offsets;
      return (async function* () {
        await created;
        yield* read(o, signal);
      })();
    },

    replay(consumer, sinceMs, signal) {
      checkConsumerName(consumer);
      const offsets = consumers.get(consumer);
      return offsets === undefined ? (async function* () {})() : replayAcked(offsets, sinceMs, signal);
    },

    stats: () => ({
      firstSeq: firstSeq(),
      lastSeq: lastSeq(),
      segments: segments.length,
      bytes: segments.reduce((n, s) => n + s.size, 0),
    }),

    async close() {
      if (closed) return;
      closed = true; // refuse new appends; queued ones still complete
      await flushing;
      await chain;
      await Promise.all([...consumers.values()].map((c) => c.flush().catch(() => undefined)));
      await activeFd?.close();
      activeFd = undefined;
      wakeAll();
    },
  };
}
