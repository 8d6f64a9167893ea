/**
 * The record format of the file outcome log's segment files: length-prefixed, checksummed
 * records, so a torn write at the tail (a crash mid-append) is detected and cut off on open.
 *
 * ```
 * u32 BE  body length
 * u32 BE  crc32 of the body
 * body:   u64 BE seq | u16 BE id length | id (UTF-8) | data
 * ```
 */
import { crc32 } from "node:zlib";

/** Bytes before the body: length and checksum. */
const RECORD_HEADER_BYTES = 8;
const BODY_FIXED_BYTES = 10;

/** One decoded record. */
export interface LogRecord {
  seq: number;
  id: string;
  data: Uint8Array;
}

/** Encodes one record. */
export function encodeRecord(seq: number, id: string, data: Uint8Array): Buffer {
  const idBytes = Buffer.from(id, "utf8");
  if (idBytes.length > 0xffff) throw new RangeError("record id longer than 65535 bytes");
  const bodyLength = BODY_FIXED_BYTES + idBytes.length + data.length;
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyLength);
  out.writeUInt32BE(bodyLength, 0);
  out.writeBigUInt64BE(BigInt(seq), 8);
  out.writeUInt16BE(idBytes.length, 16);
  idBytes.copy(out, 18);
  out.set(data, 18 + idBytes.length);
  out.writeUInt32BE(crc32(out.subarray(RECORD_HEADER_BYTES)), 4);
  return out;
}

/** The outcome of {@link decodeRecords}. */
export interface DecodedRecords {
  records: LogRecord[];
  /** Bytes consumed by the complete, valid records. */
  consumed: number;
  /** Why decoding stopped before the end of `buf`: an incomplete record, or a bad one. */
  stop?: "incomplete" | "corrupt";
  /** Length of the first record not decoded (header included), when its header was readable. */
  nextLength?: number;
}

/** Decodes the complete records at the start of `buf` (stopping at a partial or corrupt one). */
export function decodeRecords(buf: Buffer): DecodedRecords {
  const records: LogRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < RECORD_HEADER_BYTES) return { records, consumed: offset, stop: "incomplete" };
    const bodyLength = buf.readUInt32BE(offset);
    const total = RECORD_HEADER_BYTES + bodyLength;
    if (bodyLength < BODY_FIXED_BYTES) return { records, consumed: offset, stop: "corrupt" };
    if (buf.length - offset < total) return { records, consumed: offset, stop: "incomplete", nextLength: total };
    const body = buf.subarray(offset + RECORD_HEADER_BYTES, offset + total);
    if (crc32(body) !== buf.readUInt32BE(offset + 4)) return { records, consumed: offset, stop: "corrupt" };
    const idLength = body.readUInt16BE(8);
    if (BODY_FIXED_BYTES + idLength > bodyLength) return { records, consumed: offset, stop: "corrupt" };
    records.push({
      seq: Number(body.readBigUInt64BE(0)),
      id: body.toString("utf8", BODY_FIXED_BYTES, BODY_FIXED_BYTES + idLength),
      data: new Uint8Array(body.subarray(BODY_FIXED_BYTES + idLength)),
    });
    offset += total;
  }
  return { records, consumed: offset };
}
