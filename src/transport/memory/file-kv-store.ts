/**
 * The embedded KvStore: every entry lives in memory and in one file under a data directory, so a
 * restart keeps everything. Writes are atomic (temp file, fsync, rename, fsync of the directory)
 * and serialised through one promise chain, so a compare-and-swap is atomic within the process.
 *
 * Layout of `dir`:
 * - `entries/<sha256(key)>.json`: `{"key", "revision", "value": base64}` — the file name is a hash
 *   so any key (any length, any characters, case-insensitive file systems) maps to a safe name;
 *   the key itself is stored inside.
 * - `revision`: the store's revision counter, written before each change, so revisions keep
 *   increasing across restarts even when the last write was a delete.
 *
 * One process owns a directory at a time (the embedded `turnout up`); for several processes use
 * the NATS store.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { KvEntry, KvStore } from "../types.ts";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../../private-files.ts";

/** Options of {@link createFileKvStore}. */
export interface FileKvStoreOptions {
  /** Data directory; created (with parents) when missing. */
  dir: string;
  /**
   * fsync files and the directory on every write. Default true; tests over a throwaway directory
   * may turn it off for speed.
   */
  fsync?: boolean;
}

interface StoredFile {
  key: string;
  revision: number;
  value: string;
}

/** One watcher of one key: a queue of entries and a wake-up for the waiting generator. */
interface Watcher {
  queue: KvEntry[];
  wake: (() => void) | undefined;
}

function fileNameOf(key: string): string {
  return `${createHash("sha256").update(key).digest("hex")}.json`;
}

function checkRevision(key: string, current: KvEntry | undefined, expected: number | undefined): void {
  if (expected === undefined) return;
  const actual = current?.revision ?? 0;
  if (actual !== expected) {
    const have = current === undefined ? "the key does not exist" : `its revision is ${actual}`;
    throw new TurnoutError(ErrorCode.Aborted, `${key}: expected revision ${expected}, but ${have}`);
  }
}

/** Loads the entries and the revision counter of `dir`, removing temp files left by a crash. */
function load(dir: string, entriesDir: string): { entries: Map<string, KvEntry>; revision: number } {
  fs.mkdirSync(entriesDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const entries = new Map<string, KvEntry>();
  let revision = 0;
  for (const name of fs.readdirSync(entriesDir)) {
    const file = path.join(entriesDir, name);
    if (name.includes(".tmp-")) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (!name.endsWith(".json")) continue;
    let stored: StoredFile;
    try {
      stored = JSON.parse(fs.readFileSync(file, "utf8")) as StoredFile;
    } catch (cause) {
      throw new TurnoutError(ErrorCode.Internal, `store file ${file} is not readable JSON`, { cause });
    }
    entries.set(stored.key, {
      key: stored.key,
      revision: stored.revision,
      value: new Uint8Array(Buffer.from(stored.value, "base64")),
    });
    revision = Math.max(revision, stored.revision);
  }
  try {
    revision = Math.max(revision, Number(fs.readFileSync(path.join(dir, "revision"), "utf8").trim()) || 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return { entries, revision };
}

/**
 * Opens (or creates) the file-backed store in `options.dir`. Loading is synchronous, so the store
 * is ready when this returns.
 */
export function createFileKvStore(options: FileKvStoreOptions): KvStore {
  const dir = path.resolve(options.dir);
  const entriesDir = path.join(dir, "entries");
  const sync = options.fsync ?? true;
  const loaded = load(dir, entriesDir);
  const entries = loaded.entries;
  let revision = loaded.revision;
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  let tmpCounter = 0;
  const watchers = new Map<string, Set<Watcher>>();

  async function writeAtomically(file: string, data: string): Promise<void> {
    const tmp = `${file}.tmp-${process.pid}-${tmpCounter++}`;
    const handle = await fsp.open(tmp, "w", PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(data);
      if (sync) await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
  }

  async function syncDir(d: string): Promise<void> {
    if (!sync) return;
    const handle = await fsp.open(d, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  function notify(entry: KvEntry): void {
    for (const w of watchers.get(entry.key) ?? []) {
      w.queue.push(entry);
      w.wake?.();
    }
  }

  /** Runs `fn` after every earlier write, so each write sees the result of the previous one. */
  function serialised<T>(fn: () => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new TurnoutError(ErrorCode.Unavailable, "the store is closed"));
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  }

  async function wrapIo<T>(key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (cause) {
      if (cause instanceof TurnoutError) throw cause;
      throw new TurnoutError(ErrorCode.Unavailable, `${key}: could not write to the store in ${dir}`, { cause });
    }
  }

  return {
    async get(key) {
      return entries.get(key);
    },

    async list(prefix) {
      return [...entries.values()]
        .filter((e) => e.key.startsWith(prefix))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    put(key, value, expectedRevision) {
      return serialised(async () => {
        checkRevision(key, entries.get(key), expectedRevision);
        const next = revision + 1;
        const entry: KvEntry = { key, revision: next, value: new Uint8Array(value) };
        await wrapIo(key, async () => {
          await writeAtomically(path.join(dir, "revision"), String(next));
          const stored: StoredFile = { key, revision: next, value: Buffer.from(entry.value).toString("base64") };
          await writeAtomically(path.join(entriesDir, fileNameOf(key)), JSON.stringify(stored));
          await syncDir(entriesDir);
        });
        revision = next;
        entries.set(key, entry);
        notify(entry);
        return next;
      });
    },

    delete(key, expectedRevision) {
      return serialised(async () => {
        const current = entries.get(key);
        if (current === undefined && !expectedRevision) return;
        checkRevision(key, current, expectedRevision);
        const next = revision + 1;
        await wrapIo(key, async () => {
          await writeAtomically(path.join(dir, "revision"), String(next));
          await fsp.rm(path.join(entriesDir, fileNameOf(key)), { force: true });
          await syncDir(entriesDir);
        });
        revision = next;
        entries.delete(key);
        notify({ key, revision: next, value: new Uint8Array(0), deleted: true });
      });
    },

    async *watch(key, signal) {
      if (signal.aborted || closed) return;
      const watcher: Watcher = { queue: [], wake: undefined };
      const current = entries.get(key);
      if (current !== undefined) watcher.queue.push(current);
      let set = watchers.get(key);
      if (set === undefined) watchers.set(key, (set = new Set()));
      set.add(watcher);
      const onAbort = () => watcher.wake?.();
      signal.addEventListener("abort", onAbort);
      try {
        while (!signal.aborted && !closed) {
          const next = watcher.queue.shift();
          if (next !== undefined) {
            yield next;
            continue;
          }
          await new Promise<void>((resolve) => (watcher.wake = resolve));
          watcher.wake = undefined;
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
        set.delete(watcher);
        if (set.size === 0) watchers.delete(key);
      }
    },

    async close() {
      if (closed) return;
      closed = true; // refuse new writes; the ones already queued still complete
      await chain;
      for (const set of watchers.values()) for (const w of set) w.wake?.();
    },
  };
}
