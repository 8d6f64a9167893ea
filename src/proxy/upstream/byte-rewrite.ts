/**
 * Byte-level helpers for answers: rewrite the model name and ids and read a few numbers without
 * parsing whole JSON chunks. JSON string values escape quotes, so an unescaped `"key":` in an
 * answer's bytes is always a key.
 */
import { randomBytes } from "node:crypto";

/** `buf` with every `pattern` replaced by `replacement`; `buf` itself when there is none. */
export function replaceAll(buf: Buffer, pattern: Buffer, replacement: Buffer): Buffer {
  let at = buf.indexOf(pattern);
  if (at === -1) return buf;
  const parts: Buffer[] = [];
  let from = 0;
  while (at !== -1) {
    if (at > from) parts.push(buf.subarray(from, at));
    parts.push(replacement);
    from = at + pattern.length;
    at = buf.indexOf(pattern, from);
  }
  if (from < buf.length) parts.push(buf.subarray(from));
  return Buffer.concat(parts);
}

const QUOTE = 0x22;

/** The non-negative integer after `key` (e.g. `"eval_count":`) at or after `from`, or 0. */
export function numberAfter(buf: Buffer, key: Buffer, from = 0): number {
  const at = buf.indexOf(key, from);
  return at === -1 ? 0 : digitsAt(buf, at + key.length);
}

/** The non-negative integer spelled by the ASCII digits starting at `start` (0 when none). */
function digitsAt(buf: Buffer, start: number): number {
  let n = 0;
  for (let i = start; i < buf.length; i++) {
    const c = buf[i];
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

/**
 * The non-negative integer after the LAST `key` in `buf`, or 0. For whole answers: their top-level
 * counts come last (Ollama's final fields, /v1 `usage`), after any same-named key nested in the
 * message (tool-call arguments), and a backward search finds them without scanning the content.
 */
export function lastNumberAfter(buf: Buffer, key: Buffer): number {
  const at = buf.lastIndexOf(key);
  return at === -1 ? 0 : digitsAt(buf, at + key.length);
}

/** The JSON string value after `key` (e.g. `"error":`) at or after `from`, unescaped; "" if none. */
export function stringAfter(buf: Buffer, key: Buffer, from = 0): string {
  const at = buf.indexOf(key, from);
  if (at === -1) return "";
  let i = at + key.length;
  while (buf[i] === 0x20) i++;
  if (buf[i] !== QUOTE) return "";
  let j = i + 1;
  while (j < buf.length && buf[j] !== QUOTE) j += buf[j] === 0x5c ? 2 : 1;
  try {
    return JSON.parse(buf.toString("utf8", i, j + 1)) as string;
  } catch {
    return "";
  }
}

const idPrefix = randomBytes(6).toString("hex");
let idCounter = 0;

/** A process-unique id such as `chatcmpl-3f9a1c0b22d4-1a` (prefix + random + counter). */
export function mintId(prefix: string): string {
  idCounter = (idCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${prefix}${idPrefix}${idCounter.toString(36)}`;
}
