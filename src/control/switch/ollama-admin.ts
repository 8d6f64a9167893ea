/**
 * The two Ollama calls a switch makes to a node itself, not through a proxy: the empty generate
 * (`POST /api/generate` without a prompt) that loads a model (or, with `keep_alive: 0`, unloads
 * it once idle), and `GET /api/ps`, the models resident now. Failures are thrown as plain Errors
 * whose message is the reason a person needs (status and Ollama's error text, or the network
 * error); callers add the node and the model.
 */
import { request } from "undici";

/** Longest wait for `/api/ps`, which answers at once on a healthy node, in ms. */
const PS_TIMEOUT_MS = 10_000;

/** The body of an empty generate. */
export interface EmptyGenerate {
  /** Upstream model tag. */
  model: string;
  /** Ollama keep_alive: a duration string, seconds, or 0 to unload. */
  keep_alive: string | number;
  /** Ollama options the runner is loaded with (they must match the traffic's, or Ollama reloads). */
  options?: Record<string, unknown>;
}

/** Joins a node's base URL and an API path. */
function url(baseUrl: string, path: string): string {
  return baseUrl.replace(/\/+$/, "") + path;
}

/** Why a call failed, from a thrown network/timeout error. */
function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.code === "UND_ERR_HEADERS_TIMEOUT" || e.code === "UND_ERR_BODY_TIMEOUT")
    return `no answer within ${timeoutMs} ms`;
  const code = e.cause?.code ?? e.code;
  const message = e.cause?.message ?? e.message ?? String(err);
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}

/** Ollama's error text from a body, or the body itself (shortened). */
function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON: the raw text below
  }
  return body.length > 200 ? `${body.slice(0, 200)}…` : body;
}

/**
 * Sends an empty generate and answers Ollama's `done_reason` ("load" or "unload"). Rejects with
 * the reason when the node is unreachable, answers an error status, or is silent for `timeoutMs`
 * (before the first byte: a cold load sends nothing until it is done); `signal` aborts it.
 */
export async function emptyGenerate(
  baseUrl: string,
  body: EmptyGenerate,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const stop = signal === undefined ? deadline : AbortSignal.any([deadline, signal]);
  let status: number;
  let text: string;
  try {
    const res = await request(url(baseUrl, "/api/generate"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: false }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: stop,
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new Error(`${url(baseUrl, "/api/generate")}: ${networkReason(err, timeoutMs)}`, { cause: err });
  }
  if (status !== 200) throw new Error(`HTTP ${status}: ${errorText(text)}`);
  try {
    return String((JSON.parse(text) as { done_reason?: unknown }).done_reason ?? "");
  } catch {
    throw new Error(`HTTP 200 with a body that is not JSON: ${errorText(text)}`);
  }
}

/** Whether a name from `/api/ps` is `model` (Ollama shows "llama3" as "llama3:latest"). */
export function sameModel(listed: string, model: string): boolean {
  return listed === model || (!model.includes(":") && listed === `${model}:latest`);
}

/** The names of the models resident on a node now (`GET /api/ps`). */
export async function residentModels(baseUrl: string, signal?: AbortSignal): Promise<string[]> {
  const deadline = AbortSignal.timeout(PS_TIMEOUT_MS);
  const stop = signal === undefined ? deadline : AbortSignal.any([deadline, signal]);
  let status: number;
  let text: string;
  try {
    const res = await request(url(baseUrl, "/api/ps"), { method: "GET", signal: stop });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new Error(`${url(baseUrl, "/api/ps")}: ${networkReason(err, PS_TIMEOUT_MS)}`, { cause: err });
  }
  if (status !== 200) throw new Error(`/api/ps answered HTTP ${status}: ${errorText(text)}`);
  const models = (JSON.parse(text) as { models?: { name?: unknown; model?: unknown }[] }).models ?? [];
  return models.flatMap((m) => [m.name, m.model].filter((x): x is string => typeof x === "string"));
}
