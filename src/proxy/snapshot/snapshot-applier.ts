/**
 * Watch → decode → check → compile → swap. Consumes the store's snapshot key, ignores what is not
 * newer than what is applied, NACKs malformed or inconsistent snapshots (keeping the last good
 * one), and swaps in one compiled `RoutingTable` reference per accepted version. Consumers read
 * `current()` once per request and pin the table they got.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { RoutingSnapshotSchema, type RoutingSnapshot } from "../../../gen/turnout/v1/routing_pb.js";
import { formatViolations } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { checkSnapshot } from "../../snapshot/check.ts";
import { SNAPSHOT_KEY, type KvStore, type ProxyReport } from "../../transport/types.ts";
import type { NodeHealthListener } from "../upstream/node-health.ts";
import type { NodeUpstream, TypicalSpeed } from "../upstream/node-upstream.ts";
import type { LastGoodFile } from "./last-good-file.ts";
import { compileRoutingTable, releaseUpstreams, type RoutingTable } from "./routing-table.ts";

/** Options of {@link createSnapshotApplier}. */
export interface SnapshotApplierOptions {
  /** Store to watch at SNAPSHOT_KEY. */
  store: KvStore;
  /** Proxy id put in reports. */
  proxyId: string;
  logger: Logger;
  /** Receives an ACK or NACK for every snapshot seen that is newer than the applied one. Default: none. */
  onReport?: (report: ProxyReport) => void;
  /** Delay before re-watching after the watch fails, in ms. Default 1000. */
  rewatchDelayMs?: number;
  /**
   * Local copy of the last good snapshot: loaded (and checked) before the watch starts, so a
   * restart serves it even when the store never answers; rewritten after every apply. Default: none.
   */
  lastGood?: LastGoodFile;
  /** Receives every change of a node's availability (ejected, failing probes, back). Default: none. */
  onNodeHealth?: NodeHealthListener;
}

/** A running applier. */
export interface SnapshotApplier {
  /** The table requests should start on, undefined before the first good snapshot. */
  current(): RoutingTable | undefined;
  /** Applied version, 0 before any. */
  version(): number;
  /** Resolves once a version ≥ `v` is applied; rejects when `signal` aborts or the applier closes. */
  waitForVersion(v: number, signal?: AbortSignal): Promise<void>;
  /** Stops watching, retires the current table and closes every pool after in-flight requests end. */
  close(): Promise<void>;
}

interface Waiter {
  version: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Starts watching the store and applying snapshots. */
export function createSnapshotApplier(options: SnapshotApplierOptions): SnapshotApplier {
  const { store, proxyId, logger } = options;
  const log = logger.child({ component: "snapshot-applier" });
  const controller = new AbortController();
  const upstreams = new Map<string, NodeUpstream>();
  // Seconds per queued request over every node this proxy has used (for nodes not observed yet).
  const typical: TypicalSpeed = { secondsPerRequest: 0 };
  const draining = new Set<Promise<void>>();
  let table: RoutingTable | undefined;
  let applied = 0;
  let lastRevision = 0;
  let waiters: Waiter[] = [];

  const report = (r: ProxyReport) => {
    try {
      options.onReport?.(r);
    } catch (err) {
      log.warn({ err }, "onReport threw");
    }
  };

  const onDispose = (old: RoutingTable) => {
    const done = releaseUpstreams(old, upstreams);
    draining.add(done);
    void done.finally(() => draining.delete(done));
  };

  /** Decodes, checks and swaps in `value`; answers false when it was rejected. */
  const apply = (value: Uint8Array, fromDisk = false): boolean => {
    let snapshot: RoutingSnapshot;
    try {
      snapshot = fromBinary(RoutingSnapshotSchema, value);
    } catch (err) {
      if (fromDisk) return false;
      const error = `malformed snapshot: ${(err as Error).message}`;
      log.warn({ error }, "snapshot rejected");
      report({ proxy: proxyId, version: 0, appliedVersion: applied, state: "NACK", error });
      return false;
    }
    const version = Number(snapshot.version);
    if (version <= applied) return true;
    const problems = checkSnapshot(snapshot);
    if (problems.length > 0) {
      if (fromDisk) return false;
      const error = formatViolations(problems);
      log.warn({ version, error }, "snapshot rejected");
      report({ proxy: proxyId, version, appliedVersion: applied, state: "NACK", error });
      return false;
    }
    const next = compileRoutingTable(snapshot, upstreams, onDispose, typical, options.onNodeHealth);
    const previous = table;
    table = next;
    applied = version;
    previous?.retire();
    // ACK first: the log line and the disk copy are off the convergence path.
    report({ proxy: proxyId, version, appliedVersion: version, state: "ACK" });
    log.info({ version, fromDisk }, "snapshot applied");
    if (!fromDisk) options.lastGood?.save(value);
    const ready = waiters.filter((w) => w.version <= version);
    waiters = waiters.filter((w) => w.version > version);
    for (const w of ready) w.resolve();
    return true;
  };

  // The last good snapshot on disk, before the store delivers anything.
  const saved = options.lastGood?.read();
  if (saved !== undefined && !apply(saved, true)) {
    log.warn({ file: options.lastGood?.path }, "the last good snapshot on disk is corrupt or inconsistent; ignored");
  }

  const loop = async () => {
    const signal = controller.signal;
    while (!signal.aborted) {
      try {
        for await (const entry of store.watch(SNAPSHOT_KEY, signal)) {
          if (entry.deleted || entry.revision <= lastRevision) continue;
          lastRevision = entry.revision;
          apply(entry.value);
        }
      } catch (err) {
        if (signal.aborted) break;
        log.warn({ err }, "snapshot watch failed; retrying");
      }
      if (signal.aborted) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.rewatchDelayMs ?? 1000);
        signal.addEventListener(
          "abort",
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
  };
  const running = loop();

  return {
    current: () => table,
    version: () => applied,
    waitForVersion(v, signal) {
      if (applied >= v) return Promise.resolve();
      if (controller.signal.aborted) return Promise.reject(new Error("snapshot applier closed"));
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = { version: v, resolve, reject };
        if (signal) {
          if (signal.aborted) return reject(signal.reason);
          const onAbort = () => {
            waiters = waiters.filter((w) => w !== waiter);
            reject(signal.reason);
          };
          signal.addEventListener("abort", onAbort, { once: true });
          waiter.resolve = () => {
            signal.removeEventListener("abort", onAbort);
            resolve();
          };
        }
        waiters.push(waiter);
      });
    },
    async close() {
      controller.abort();
      await running;
      for (const w of waiters) w.reject(new Error("snapshot applier closed"));
      waiters = [];
      const last = table;
      table = undefined;
      last?.retire();
      while (draining.size > 0) await Promise.all([...draining]);
      await options.lastGood?.flush();
    },
  };
}
