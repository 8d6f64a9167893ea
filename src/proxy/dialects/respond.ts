/**
 * Answers the proxy writes itself (errors before any upstream, listings, health), each with the
 * headers every answer carries: `x-turnout-variant`, `x-turnout-snapshot`, `x-request-id`.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { JSON_TYPE, type Dialect } from "./dialect.ts";

/** A response as both node servers (HTTP/1.1 and the HTTP/2 compat API) expose it. */
export interface ProxyResponse {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(chunk?: Buffer | string): unknown;
}

/** Identity headers of one answer. */
export interface AnswerMeta {
  requestId: string;
  /** Snapshot version as a string ("0" before any). */
  snapshot: string;
  /** Variant name ("" when no variant served it). */
  variant: string;
}

/** Writes a whole answer. HEAD requests get the headers only. */
export function sendBody(
  res: ProxyResponse,
  status: number,
  contentType: string,
  body: string,
  meta: AnswerMeta,
  head = false,
  extra?: OutgoingHttpHeaders,
): void {
  const bytes = Buffer.from(body);
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": bytes.length,
    "x-turnout-variant": meta.variant,
    "x-turnout-snapshot": meta.snapshot,
    "x-request-id": meta.requestId,
    ...extra,
  });
  res.end(head ? undefined : bytes);
}

/** Writes a JSON answer. */
export function sendJson(res: ProxyResponse, status: number, body: string, meta: AnswerMeta, head = false): void {
  sendBody(res, status, JSON_TYPE, body, meta, head);
}

/** Writes the dialect's error body with `status` (`type`: the OpenAI error type, see Dialect.errorBody). */
export function sendError(
  res: ProxyResponse,
  dialect: Dialect,
  status: number,
  message: string,
  meta: AnswerMeta,
  extra?: OutgoingHttpHeaders,
  type?: string,
): void {
  sendBody(res, status, JSON_TYPE, dialect.errorBody(status, message, type), meta, false, extra);
}

/** Gin's plain-text 404 and 405 answers, which Ollama serves for unknown paths and methods. */
export function sendPlainStatus(res: ProxyResponse, status: 404 | 405, meta: AnswerMeta): void {
  sendBody(res, status, "text/plain", status === 404 ? "404 page not found" : "405 method not allowed", meta);
}
