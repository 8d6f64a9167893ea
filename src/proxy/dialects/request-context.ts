/**
 * Per-request basics shared by the dialects: the request id (a sane incoming `x-request-id`, else
 * a fresh one) and reading a JSON body.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

const SANE_ID = /^[\w.:@/+=-]{1,128}$/;

/** The request id to use for a request with these headers. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const incoming = headers["x-request-id"];
  return typeof incoming === "string" && SANE_ID.test(incoming) ? incoming : randomUUID();
}

/** A readable request as both node servers expose it. */
export interface BodySource {
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
}

/** Largest request body accepted, in bytes (images are base64 in chat requests). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Receives a request body read by {@link readBody}: exactly one of the two is called, once. */
export interface BodyTarget {
  /** The whole body (an empty Buffer when there was none). */
  onBody(raw: Buffer): void;
  /** Reading failed (the stream errored or the body exceeded {@link MAX_BODY_BYTES}). */
  onBodyError(err: Error): void;
}

const kBody = Symbol("body-collector");

/** The body read so far; hangs off the request so that its listeners need no closures. */
class BodyCollector {
  readonly target: BodyTarget;
  first: Buffer | null = null;
  parts: Buffer[] | null = null;
  size = 0;
  settled = false;
  constructor(target: BodyTarget) {
    this.target = target;
  }
}

type Collecting = { [kBody]?: BodyCollector };

function onBodyData(this: Collecting, chunk: Buffer): void {
  const c = this[kBody] as BodyCollector;
  if (c.settled) return;
  c.size += chunk.length;
  if (c.size > MAX_BODY_BYTES) {
    c.settled = true;
    c.first = c.parts = null;
    return c.target.onBodyError(new Error("request body too large"));
  }
  if (c.first === null) c.first = chunk;
  else (c.parts ??= [c.first]).push(chunk);
}

function onBodyEnd(this: Collecting): void {
  const c = this[kBody] as BodyCollector;
  if (c.settled) return;
  c.settled = true;
  const raw = c.parts !== null ? Buffer.concat(c.parts) : (c.first ?? Buffer.alloc(0));
  c.first = c.parts = null;
  c.target.onBody(raw);
}

function onBodyError(this: Collecting, err: Error): void {
  const c = this[kBody] as BodyCollector;
  if (c.settled) return;
  c.settled = true;
  c.first = c.parts = null;
  c.target.onBodyError(err);
}

/**
 * Reads the whole request body into `target` — without a promise or per-request closures: this
 * is on every proxied request's path.
 */
export function readBody(req: BodySource, target: BodyTarget): void {
  (req as Collecting)[kBody] = new BodyCollector(target);
  req.on("data", onBodyData);
  req.on("end", onBodyEnd);
  req.on("error", onBodyError);
}

/** What was wrong with a body, in Ollama's words, or the parsed object. */
export type ParsedBody = { ok: true; body: Record<string, unknown> } | { ok: false; message: string };

/** Parses a JSON object body the way Ollama's handlers report problems. */
export function parseJsonBody(raw: Buffer): ParsedBody {
  if (raw.length === 0) return { ok: false, message: "missing request body" };
  let value: unknown;
  try {
    value = JSON.parse(raw.toString("utf8"));
  } catch (err) {
    return { ok: false, message: `invalid JSON in request body: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, message: "request body must be a JSON object" };
  }
  return { ok: true, body: value as Record<string, unknown> };
}
