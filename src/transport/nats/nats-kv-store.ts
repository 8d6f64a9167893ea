/**
 * The distributed KvStore: a JetStream KV bucket, with the same behaviour as the file store
 * (test/transport/kv-store-suite.ts runs the same cases against both).
 *
 * Bucket settings (created on start when missing; an existing bucket is used as it is):
 * `KV_<bucket>` stream, history `history` values per key (default 10), file storage,
 * 1 replica, no TTL, no size limit, direct get on (server 2.9+). Keys are encoded per
 * kv-key-codec.ts. Revisions are the bucket stream's sequence numbers.
 *
 * Writes are compare-and-swap on the key's revision: `expectedRevision` 0 → `kv.create`, n →
 * `kv.update(key, value, n)`; a lost race (JetStream error 10071) throws `aborted` naming the key
 * and both revisions. While NATS is down every operation throws `unavailable` at once (or after
 * the link's request timeout when the outage is not noticed yet). Watches survive a NATS restart:
 * when the client's watch iterator ends or cannot be created, a new one is made once the
 * connection is back, and revisions already yielded are skipped.
 */
import { jetstream, JetStreamApiCodes, JetStreamApiError, StorageType } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry as NatsKvEntry } from "@nats-io/kv";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { KvEntry, KvStore } from "../types.ts";
import { decodeKvKey, encodeKvKey, prefixFilter } from "./kv-key-codec.ts";
import { aborted, unreachable, type NatsLink } from "./nats-connection.ts";
import { delay } from "../../delay.ts";

/** Options of {@link createNatsKvStore}. */
export interface NatsKvStoreOptions {
  /** The connection (see connectNats). */
  link: NatsLink;
  /** Bucket name. Default "turnout_state". */
  bucket?: string;
  /** Values kept per key when the bucket is created. Default 10. */
  history?: number;
  /** Logger; a child with component "nats-kv" is made. */
  logger: Logger;
}

/** Delays between attempts to re-create a watch, in ms (the last repeats). */
const RETRY_MS = [100, 250, 500, 1000, 2000];

function isLostRace(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function live(entry: NatsKvEntry | null): NatsKvEntry | undefined {
  return entry === null || entry.operation !== "PUT" ? undefined : entry;
}

/**
 * Opens the store. When the link is connected the bucket is created (or bound) before this
 * resolves; otherwise that happens on the first connection, and operations fail with
 * `unavailable` until then.
 */
export async function createNatsKvStore(options: NatsKvStoreOptions): Promise<KvStore> {
  const { link } = options;
  const bucketName = options.bucket ?? "turnout_state";
  const history = options.history ?? 10;
  const log = options.logger.child({ component: "nats-kv", bucket: bucketName });
  const closer = new AbortController();
  let bucket: Promise<KV> | undefined;

  /** The bucket, created on first use while connected (retried after a failure). */
  function open(): Promise<KV> {
    if (bucket !== undefined) return bucket;
    const nc = link.require(`opening KV bucket ${bucketName}`);
    const js = jetstream(nc, { timeout: link.requestTimeoutMs });
    bucket = new Kvm(js).create(bucketName, { history, storage: StorageType.File, replicas: 1, timeout: link.requestTimeoutMs });
    bucket.then(
      () => log.debug("bucket ready"),
      () => (bucket = undefined),
    );
    return bucket;
  }

  async function run<T>(what: string, fn: (kv: KV) => Promise<T>): Promise<T> {
    if (closer.signal.aborted) throw new TurnoutError(ErrorCode.Unavailable, "the store is closed");
    link.require(what);
    try {
      return await fn(await open());
    } catch (err) {
      if (err instanceof TurnoutError) throw err;
      throw unreachable(what, err);
    }
  }

  /** The `aborted` error of a lost CAS on `key`, with the key's actual revision. */
  async function lostRace(kv: KV, key: string, expected: number): Promise<TurnoutError> {
    const current = live(await kv.get(encodeKvKey(key)));
    const have = current === undefined ? "the key does not exist" : `its revision is ${current.revision}`;
    return new TurnoutError(ErrorCode.Aborted, `${key}: expected revision ${expected}, but ${have}`);
  }

  const toEntry = (key: string, e: NatsKvEntry): KvEntry =>
    e.operation === "PUT"
      ? { key, value: e.value, revision: e.revision }
      : { key, value: new Uint8Array(0), revision: e.revision, deleted: true };

  async function* watchKey(key: string, signal: AbortSignal): AsyncGenerator<KvEntry> {
    const both = AbortSignal.any([signal, closer.signal]);
    let seen = 0;
    let failures = 0;
    while (!both.aborted) {
      try {
        await link.whenConnected(both);
      } catch {
        return; // aborted or closed
      }
      let iter: Awaited<ReturnType<KV["watch"]>>;
      try {
        iter = await Promise.race([open().then((kv) => kv.watch({ key: encodeKvKey(key) })), aborted(both)]);
      } catch (err) {
        if (both.aborted) return;
        log.warn({ key, err: (err as Error).message }, "cannot watch key; retrying");
        await delay(RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)], both);
        continue;
      }
      failures = 0;
      const stop = () => iter.stop();
      both.addEventListener("abort", stop, { once: true });
      try {
        for await (const e of iter) {
          if (e.revision <= seen) continue;
          seen = e.revision;
          yield toEntry(key, e);
        }
      } finally {
        both.removeEventListener("abort", stop);
        iter.stop();
      }
      if (!both.aborted) log.info({ key, revision: seen }, "watch ended; re-creating it");
    }
  }

  if (link.connected()) {
    try {
      await open();
    } catch (err) {
      throw unreachable(`creating KV bucket ${bucketName}`, err);
    }
  }

  return {
    get: (key) =>
      run(`get ${key}`, async (kv) => {
        const e = live(await kv.get(encodeKvKey(key)));
        return e === undefined ? undefined : { key, value: e.value, revision: e.revision };
      }),

    list: (prefix) =>
      run(`list ${prefix}*`, async (kv) => {
        const keys: string[] = [];
        for await (const k of await kv.keys(prefixFilter(prefix))) {
          const key = decodeKvKey(k);
          if (key.startsWith(prefix)) keys.push(key);
        }
        const entries = await Promise.all(keys.map(async (key) => [key, live(await kv.get(encodeKvKey(key)))] as const));
        return entries
          .flatMap(([key, e]) => (e === undefined ? [] : [{ key, value: e.value, revision: e.revision }]))
          .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      }),

    put: (key, value, expectedRevision) =>
      run(`put ${key}`, async (kv) => {
        const k = encodeKvKey(key);
        try {
          if (expectedRevision === undefined) return await kv.put(k, value);
          if (expectedRevision === 0) return await kv.create(k, value);
          return await kv.update(k, value, expectedRevision);
        } catch (err) {
          if (isLostRace(err)) throw await lostRace(kv, key, expectedRevision ?? 0);
          throw err;
        }
      }),

    delete: (key, expectedRevision) =>
      run(`delete ${key}`, async (kv) => {
        const k = encodeKvKey(key);
        const current = live(await kv.get(k));
        if (current === undefined && !expectedRevision) return;
        if (expectedRevision === undefined) return await kv.delete(k);
        if (current === undefined || current.revision !== expectedRevision) throw await lostRace(kv, key, expectedRevision);
        try {
          await kv.delete(k, { previousSeq: expectedRevision });
        } catch (err) {
          if (isLostRace(err)) throw await lostRace(kv, key, expectedRevision);
          throw err;
        }
      }),

    watch: (key, signal) => watchKey(key, signal),

    async close() {
      closer.abort();
    },
  };
}
