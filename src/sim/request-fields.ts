/**
 * Reading the fields every inference request shares (model, keep_alive, num_predict, stream),
 * answering Ollama's 400/404 when they are wrong.
 */
import type { ServerResponse } from "node:http";
import type { ErrorWriter } from "./http-io.ts";
import { keepAliveMs } from "./options.ts";
import type { SimContext } from "./sim-context.ts";

/** Largest answer the simulator generates, whatever `num_predict` asks. */
const MAX_TOKENS = 100_000;

/**
 * The requested model when it is served here; otherwise answers 400 `model is required` or
 * 404 `model 'x' not found` and returns undefined. Counts the request for a served model.
 */
export function servedModel(
  ctx: SimContext,
  body: Record<string, unknown>,
  res: ServerResponse,
  sendError: ErrorWriter,
): string | undefined {
  const model = body.model;
  if (typeof model !== "string" || model === "") {
    sendError(res, 400, "model is required");
    return undefined;
  }
  if (!ctx.catalog.has(model)) {
    sendError(res, 404, `model '${model}' not found`);
    return undefined;
  }
  ctx.byModel[model]!++;
  return model;
}

/** Ollama's 400 for a chat or generate request to a model without the completion capability
 * (an embedding model); answers it and returns false. */
export function canComplete(
  ctx: SimContext,
  model: string,
  what: "chat" | "generate",
  res: ServerResponse,
  sendError: ErrorWriter,
): boolean {
  if (ctx.catalog.get(model)!.capabilities.includes("completion")) return true;
  sendError(res, 400, `${JSON.stringify(model)} does not support ${what}`);
  return false;
}

/** `keep_alive` in ms (FOREVER when negative, undefined when absent), or an error message. */
export function requestKeepAlive(
  body: Record<string, unknown>,
): { ok: true; ms: number | undefined } | { ok: false; message: string } {
  const v = body.keep_alive;
  if (v === undefined || v === null) return { ok: true, ms: undefined };
  try {
    return { ok: true, ms: keepAliveMs(v) };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

/** Answer length and done reason: a positive `num_predict`/`max_tokens` sets the length and
 * ends with "length"; otherwise the node's default length and "stop". */
export function answerLength(limit: unknown, outputTokens: number): { count: number; doneReason: "stop" | "length" } {
  if (typeof limit === "number" && Number.isFinite(limit) && limit > 0) {
    return { count: Math.min(Math.floor(limit), MAX_TOKENS) || 1, doneReason: "length" };
  }
  return { count: outputTokens, doneReason: "stop" };
}

/** The `options` object of a native request, or an empty one. */
export function requestOptions(body: Record<string, unknown>): Record<string, unknown> {
  const o = body.options;
  return o !== null && typeof o === "object" && !Array.isArray(o) ? (o as Record<string, unknown>) : {};
}

/** Text of a message's `content`: strings as they are, anything else (content parts) as JSON. */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (content === undefined || content === null) return "";
  return JSON.stringify(content);
}

/** The prompt key of a message list: roles and contents in order. */
export function messagesKey(messages: readonly unknown[]): string {
  let key = "";
  for (const m of messages) {
    if (m === null || typeof m !== "object") continue;
    const msg = m as { role?: unknown; content?: unknown };
    key += `${typeof msg.role === "string" ? msg.role : ""}:${contentText(msg.content)}\n`;
  }
  return key;
}
