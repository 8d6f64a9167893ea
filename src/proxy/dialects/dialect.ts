/**
 * The two HTTP dialects' error shapes: Ollama native (`{"error":"..."}`, NDJSON error lines) and
 * OpenAI-compatible (`{"error":{message,type,param,code}}`, SSE `data:` error frames), exactly as
 * Ollama writes them, so clients raise their own error types.
 */

/** Error rendering of one dialect. */
export interface Dialect {
  readonly kind: "native" | "openai";
  /** JSON body of an error answered with HTTP `status`. */
  errorBody(status: number, message: string): string;
  /** The in-band error that ends a stream that already started. */
  streamError(message: string): Buffer;
}

/** Ollama's native API. */
export const nativeDialect: Dialect = {
  kind: "native",
  errorBody: (_status, message) => JSON.stringify({ error: message }),
  streamError: (message) => Buffer.from(`${JSON.stringify({ error: message })}\n`),
};

/** OpenAI error `type` for a status, as Ollama's `openai.NewError`. */
function openAiErrorType(status: number): string {
  if (status === 400) return "invalid_request_error";
  if (status === 404) return "not_found_error";
  return "api_error";
}

/** Ollama's OpenAI-compatible API under /v1. */
export const openAiDialect: Dialect = {
  kind: "openai",
  errorBody: (status, message) => JSON.stringify({ error: { message, type: openAiErrorType(status), param: null, code: null } }),
  streamError: (message) =>
    Buffer.from(`data: ${JSON.stringify({ error: { message, type: "api_error", param: null, code: null } })}\n\n`),
};

/** Content type of JSON answers, as Ollama sends it. */
export const JSON_TYPE = "application/json; charset=utf-8";
