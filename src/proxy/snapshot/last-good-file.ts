/**
 * The proxy's last good snapshot on local disk: the bytes of every applied snapshot are written
 * atomically (temp file, fsync, rename, fsync of the directory) to `<dir>/last-good-snapshot.pb`,
 * and read once at startup, so a proxy restarted while the store is unreachable serves what it
 * served before. Writes run in the background, one at a time; a burst keeps only the newest.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { Logger } from "../../log.ts";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../../private-files.ts";

/** File name of the last good snapshot inside the data directory. */
export const LAST_GOOD_FILE = "last-good-snapshot.pb";

/** Options of {@link createLastGoodFile}. */
export interface LastGoodFileOptions {
  /** Data directory; created (with parents) on the first write. */
  dir: string;
  logger: Logger;
  /** fsync the file and the directory on every write. Default true. */
  fsync?: boolean;
}

/** The last-good-snapshot file of one proxy. */
export interface LastGoodFile {
  /** Full path of the file. */
  readonly path: string;
  /** The stored bytes, undefined when there is no file (or it cannot be read; logged). Synchronous: startup only. */
  read(): Uint8Array | undefined;
  /** Queues `bytes` to be written; only the newest queued value is written. */
  save(bytes: Uint8Array): void;
  /** Resolves once every queued write has finished. */
  flush(): Promise<void>;
}

/** Creates the file handle; touches the disk only on `read` and `save`. */
export function createLastGoodFile(options: LastGoodFileOptions): LastGoodFile {
  const dir = path.resolve(options.dir);
  const file = path.join(dir, LAST_GOOD_FILE);
  const sync = options.fsync ?? true;
  const log = options.logger.child({ component: "last-good-file" });
  let pending: Uint8Array | undefined;
  let writing: Promise<void> | undefined;
  let counter = 0;

  let madeDir = false;

  async function write(bytes: Uint8Array): Promise<void> {
    if (!madeDir) {
      await fsp.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      madeDir = true;
    }
    const tmp = `${file}.tmp-${process.pid}-${counter++}`;
    const handle = await fsp.open(tmp, "w", PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(bytes);
      if (sync) await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
    if (sync) {
      const d = await fsp.open(dir, "r");
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    }
  }

  async function drain(): Promise<void> {
    while (pending !== undefined) {
      const bytes = pending;
      pending = undefined;
      try {
        await write(bytes);
      } catch (err) {
        log.warn({ err, file }, "could not write the last good snapshot");
      }
    }
    writing = undefined;
  }

  return {
    path: file,
    read() {
      try {
        return new Uint8Array(fs.readFileSync(file));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT")
          log.warn({ err, file }, "could not read the last good snapshot; ignored");
        return undefined;
      }
    },
    save(bytes) {
      pending = bytes;
      writing ??= drain();
    },
    async flush() {
      while (writing !== undefined) await writing;
    },
  };
}
