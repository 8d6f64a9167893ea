/**
 * The admin audit log in the KvStore: a ring of `capacity` entries, so its size is bounded (by
 * default 5000 entries of at most ~2 KB each: the request text is cut at 1024 characters and the
 * error at 512). Entry `seq` lives at `admin-audit.<seq mod capacity>` (binary AuditEntry) and
 * overwrites the entry `capacity` places older; the last seq handed out is a counter at
 * `meta.admin-audit-seq` taken with compare-and-swap, so control planes sharing a store share
 * one log without two writers taking the same seq.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { AuditEntrySchema, type AuditEntry } from "../../../gen/turnout/v1/keys_pb.js";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { KvStore } from "../../transport/types.ts";

const SLOTS = "admin-audit.";
const SEQ_KEY = "meta.admin-audit-seq";
/** Default number of entries kept. */
const DEFAULT_CAPACITY = 5000;
/** Longest request text kept in an entry. */
const MAX_REQUEST_CHARS = 1024;
/** Longest error text kept in an entry. */
const MAX_ERROR_CHARS = 512;
/** Default and longest answer of {@link AuditLog.list} (the latter bounded by the capacity). */
const DEFAULT_LIST = 100;
/** Attempts to take a seq while other writers take theirs. */
const SEQ_ATTEMPTS = 50;
/** Slots read at once when listing. */
const READ_BATCH = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options of {@link createAuditLog}. */
export interface AuditLogOptions {
  /** Store of the log (the control plane's). */
  kv: KvStore;
  /** Entries kept; older ones are overwritten. Default 5000. */
  capacity?: number;
}

/** An entry to append: everything but its seq. */
export type AuditInput = Omit<MessageInitShape<typeof AuditEntrySchema>, "seq" | "$typeName">;

/** The admin audit log. */
export interface AuditLog {
  /** Entries kept at most. */
  readonly capacity: number;
  /** Appends `entry` (texts cut to their bounds); answers its seq. */
  append(entry: AuditInput): Promise<number>;
  /** The newest `limit` entries (default 100, at most the capacity), of `keyId` only when given; oldest first. */
  list(options?: { limit?: number; keyId?: string }): Promise<AuditEntry[]>;
}

function cut(text: string | undefined, max: number): string {
  if (text === undefined) return "";
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Creates the audit log over `options.kv`. */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  const { kv } = options;
  const capacity = Math.max(1, Math.floor(options.capacity ?? DEFAULT_CAPACITY));
  const slotKey = (seq: number) => SLOTS + String(seq % capacity).padStart(6, "0");

  async function lastSeq(): Promise<{ seq: number; revision: number }> {
    const entry = await kv.get(SEQ_KEY);
    if (entry === undefined) return { seq: 0, revision: 0 };
    const seq = Number(decoder.decode(entry.value));
    return { seq: Number.isSafeInteger(seq) && seq > 0 ? seq : 0, revision: entry.revision };
  }

  async function takeSeq(): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const last = await lastSeq();
      try {
        await kv.put(SEQ_KEY, encoder.encode(String(last.seq + 1)), last.revision);
        return last.seq + 1;
      } catch (err) {
        if (!(err instanceof TurnoutError && err.code === ErrorCode.Aborted) || attempt >= SEQ_ATTEMPTS) throw err;
      }
    }
  }

  async function read(seq: number): Promise<AuditEntry | undefined> {
    const entry = await kv.get(slotKey(seq));
    if (entry === undefined) return undefined;
    try {
      const e = fromBinary(AuditEntrySchema, entry.value);
      return e.seq === BigInt(seq) ? e : undefined; // overwritten by a newer one, or not written yet
    } catch {
      return undefined;
    }
  }

  return {
    capacity,
    async append(input) {
      const seq = await takeSeq();
      const entry = create(AuditEntrySchema, {
        ...input,
        seq: BigInt(seq),
        request: cut(input.request, MAX_REQUEST_CHARS),
        error: cut(input.error, MAX_ERROR_CHARS),
      });
      await kv.put(slotKey(seq), toBinary(AuditEntrySchema, entry));
      return seq;
    },
    async list(opts = {}) {
      const limit = Math.min(capacity, opts.limit || DEFAULT_LIST);
      const { seq: newest } = await lastSeq();
      const oldest = Math.max(1, newest - capacity + 1);
      const out: AuditEntry[] = [];
      for (let top = newest; top >= oldest && out.length < limit; top -= READ_BATCH) {
        const seqs: number[] = [];
        for (let s = top; s > top - READ_BATCH && s >= oldest; s--) seqs.push(s);
        for (const e of await Promise.all(seqs.map(read))) {
          if (e === undefined || (opts.keyId && e.keyId !== opts.keyId)) continue;
          out.push(e);
          if (out.length === limit) break;
        }
      }
      return out.reverse();
    },
  };
}
