/**
 * Small HTTP helpers of the simulator: read a JSON body, write JSON, and the two error dialects
 * (native `{"error":"…"}`, OpenAI `{"error":{message,type,param,code}}`).
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** Content type of Ollama's single JSON answers (gin's `c.JSON`). */
export const JSON_TYPE = "application/json; charset=utf-8";
/** Content type of native streams. */
export const NDJSON_TYPE = "application/x-ndjson";
/** Content type of `/v1` streams. */
export const SSE_TYPE = "text/event-stream";

/** Writes an error answer in one dialect. */
export type ErrorWriter = (res: ServerResponse, status: number, message: string) => void;

/** Writes a complete JSON answer with a content length. */
export function sendJson(res: ServerResponse, status: number, body: string, contentType = JSON_TYPE): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Native error: `{"error":"…"}`. */
export const nativeError: ErrorWriter = (res, status, message) => {
  sendJson(res, status, `{"error":${JSON.stringify(message)}}`);
};

/** The OpenAI error envelope's `type` for a status, as Ollama's middleware maps it. */
function openAIErrorType(status: number): string {
  return status === 400 ? "invalid_request_error" : status === 404 ? "not_found_error" : "api_error";
}

/** The OpenAI error envelope (no trailing newline). */
export function openAIErrorBody(status: number, message: string): string {
  return `{"error":{"message":${JSON.stringify(message)},"type":"${openAIErrorType(status)}","param":null,"code":null}}`;
}

/** OpenAI-compatible error: `{"error":{message,type,param:null,code:null}}`. */
export const openAIError: ErrorWriter = (res, status, message) => {
  sendJson(res, status, `${openAIErrorBody(status, message)}\n`, "application/json");
};

/** Plain-text answer (gin's 404/405 pages, `/`). */
export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Result of {@link readJsonBody}: the parsed object, or the error message for a 400. */
export type BodyResult = { ok: true; body: Record<string, unknown> } | { ok: false; message: string };

/** Reads the whole request body and parses it as a JSON object. */
export function readJsonBody(req: IncomingMessage): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => resolve({ ok: false, message: "error reading request body" }));
    req.on("end", () => {
      const text = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8");
      resolve(parseJsonObject(text));
    });
  });
}

/** Parses `text` as a JSON object, with Go-like messages for what is wrong. */
function parseJsonObject(text: string): BodyResult {
  if (text.trim() === "") return { ok: false, message: "missing request body" };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `invalid JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
    return { ok: false, message: `json: cannot unmarshal ${kind} into Go value of type request` };
  }
  return { ok: true, body: value as Record<string, unknown> };
}

let lastMs = 0;
let lastIso = "";
/** `created_at` for now (cached per millisecond). */
export function isoNow(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}
