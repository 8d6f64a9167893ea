/**
 * The two HTTP dialects' error shapes: Ollama native (`{"error":"..."}`, NDJSON error lines) and
 * OpenAI-compatible (`{"error":{message,type,param,code}}`, SSE `data:` error frames), exactly as
 * Ollama writes them — and a refused API key or rate limit as OpenAI writes them
 * (`invalid_api_key`, `rate_limit_exceeded`) — so clients raise their own error types.
 */

/** Error rendering of one dialect. */
export interface Dialect {
  readonly kind: "native" | "openai";
  /**
   * JSON body of an error answered with HTTP `status`; `type` is the OpenAI error type where the
   * status alone does not say it (a 429's "requests" or "tokens").
   */
  errorBody(status: number, message: string, type?: string): string;
  /** The in-band error that ends a stream that already started. */
  streamError(message: string): Buffer;
}

/** Ollama's native API. */
export const nativeDialect: Dialect = {
  kind: "native",
  errorBody: (_status, message) => JSON.stringify({ error: message }),
  streamError: (message) => Buffer.from(`${JSON.stringify({ error: message })}\n`),
};

/** OpenAI error `type` for a status, as Ollama's `openai.NewError` (and OpenAI's own 401). */
function openAiErrorType(status: number): string {
  if (status === 400 || status === 401) return "invalid_request_error";
  if (status === 404) return "not_found_error";
  return "api_error";
}

/** OpenAI error `code` for a status the proxy answers itself: a bad API key, a rate limit; else null. */
function openAiErrorCode(status: number): string | null {
  if (status === 401) return "invalid_api_key";
  if (status === 429) return "rate_limit_exceeded";
  return null;
}

/** Ollama's OpenAI-compatible API under /v1. */
export const openAiDialect: Dialect = {
  kind: "openai",
  errorBody: (status, message, type) =>
    JSON.stringify({
      error: { message, type: type ?? openAiErrorType(status), param: null, code: openAiErrorCode(status) },
    }),
  streamError: (message) =>
    Buffer.from(`data: ${JSON.stringify({ error: { message, type: "api_error", param: null, code: null } })}\n\n`),
};

/** Content type of JSON answers, as Ollama sends it. */
export const JSON_TYPE = "application/json; charset=utf-8";
