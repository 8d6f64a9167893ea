/**
 * Per-request basics shared by the dialects: the request id (a sane incoming `x-request-id`, else
 * a fresh one), reading a JSON body, and merging variant overrides into an Ollama request.
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { JsonObject } from "@bufbuild/protobuf";

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
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Reads the whole request body. */
export function readBody(req: BodySource): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let first: Buffer | null = null;
    let parts: Buffer[] | null = null;
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return reject(new Error("request body too large"));
      if (first === null) first = chunk;
      else (parts ??= [first]).push(chunk);
    });
    req.on("end", () => resolve(parts !== null ? Buffer.concat(parts) : (first ?? Buffer.alloc(0))));
    req.on("error", reject);
  });
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

/** Merges variant `options` over the client's (variant wins). */
export function mergeOptions(client: unknown, overrides: JsonObject | undefined): unknown {
  if (overrides === undefined) return client;
  if (client === null || typeof client !== "object" || Array.isArray(client)) return { ...overrides };
  return { ...(client as object), ...overrides };
}
