/**
 * The embedded Transport: everything in one process over one data directory —
 * the file KV store in `<dir>/store`, the in-process event bus, and the file outcome log in
 * `<dir>/outcomes`. One process owns the directory at a time.
 */
import * as path from "node:path";
import { makePrivateDir } from "../../private-files.ts";
import type { Transport } from "../types.ts";
import { createMemoryEventBus, type MemoryEventBus } from "./event-bus.ts";
import { createFileKvStore } from "./file-kv-store.ts";
import { createFileOutcomeLog, type FileOutcomeLog } from "./file-outcome-log.ts";

/** Options of {@link createMemoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * Data directory (the store in `store/`, the outcome log in `outcomes/`); created when missing,
   * with mode 0700 (an existing one is narrowed to 0700), its files 0600.
   */
  dir: string;
  /** fsync writes of the store and the log. Default true; tests over a throwaway dir may turn it off. */
  fsync?: boolean;
}

/** The embedded transport, with the concrete bus and log types. */
export interface MemoryTransport extends Transport {
  readonly bus: MemoryEventBus;
  readonly outcomes: FileOutcomeLog;
}

/** Opens the embedded transport over `options.dir`. */
export function createMemoryTransport(options: MemoryTransportOptions): MemoryTransport {
  const dir = path.resolve(options.dir);
  makePrivateDir(dir);
  const store = createFileKvStore({ dir: path.join(dir, "store"), fsync: options.fsync });
  const bus = createMemoryEventBus();
  // acked outcomes are kept 7 days (not the log's 1 h default): experiment reports replay from
  // an experiment's start (see experiment-reports.ts); maxBytes (1 GiB) still bounds the disk
  const outcomes = createFileOutcomeLog({
    dir: path.join(dir, "outcomes"),
    fsync: options.fsync,
    keepAckedMs: 7 * 24 * 3600_000,
  });
  let closing: Promise<void> | undefined;
  return {
    store,
    bus,
    outcomes,
    close() {
      closing ??= Promise.all([store.close(), outcomes.close()]).then(() => undefined);
      return closing;
    },
  };
}
