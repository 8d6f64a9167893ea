/**
 * Ollama's native API on a simulated node: `/`, `/api/version`, `/api/chat`, `/api/generate`,
 * `/api/embed`, `/api/embeddings`, `/api/tags`, `/api/ps`, `/api/show`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { JSON_TYPE, nativeError, readJsonBody, sendJson, sendText } from "./http-io.ts";
import { InferenceJob, type JobSpec } from "./inference-job.ts";
import { NativeChatFramer, NativeGenerateFramer, loadAnswer } from "./native-framers.ts";
import { answerLength, canComplete, messagesKey, requestKeepAlive, requestOptions, servedModel } from "./request-fields.ts";
import type { SimContext } from "./sim-context.ts";
import { answerSeed, countPromptTokens, embedding } from "./text-generator.ts";

/** A route handler. */
export type Handler = (ctx: SimContext, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** `HEAD/GET /`. */
export const root: Handler = (_ctx, _req, res) => sendText(res, 200, "Ollama is running");

/** `HEAD/GET /api/version`. */
export const version: Handler = (ctx, _req, res) => sendJson(res, 200, `{"version":${JSON.stringify(ctx.version)}}`);

/** Parses the body and the shared fields of a native inference request; undefined when answered. */
async function inferenceRequest(ctx: SimContext, req: IncomingMessage, res: ServerResponse) {
  ctx.counters.requests++;
  const parsed = await readJsonBody(req);
  if (!parsed.ok) return nativeError(res, 400, parsed.message);
  const body = parsed.body;
  ctx.emit({
    type: "request",
    path: req.url ?? "",
    model: body.model,
    options: requestOptions(body),
    keepAlive: body.keep_alive,
    headers: req.headers,
  });
  const model = servedModel(ctx, body, res, nativeError);
  if (model === undefined) return undefined;
  const ka = requestKeepAlive(body);
  if (!ka.ok) return nativeError(res, 400, ka.message);
  return { body, model, keepAlive: ka.ms, modelJson: JSON.stringify(model) };
}

/** Starts a job for a load request (empty prompt) or answers an unload (`keep_alive: 0`). */
function loadOrUnload(
  ctx: SimContext,
  res: ServerResponse,
  path: string,
  model: string,
  modelJson: string,
  keepAlive: number | undefined,
  kind: "chat" | "generate",
): void {
  if (keepAlive === 0) {
    ctx.runtime.expire(model);
    sendJson(res, 200, loadAnswer(modelJson, kind, "unload"));
    ctx.emit({ type: "request-end", model, path, status: 200 });
    return;
  }
  const spec: JobSpec = {
    ctx,
    res,
    path,
    model,
    keepAlive,
    sendError: nativeError,
    injectable: false,
    work: { kind: "single", delayed: false, render: () => loadAnswer(modelJson, kind, "load") },
  };
  new InferenceJob(spec).start();
}

/** `POST /api/chat`. */
export const chat: Handler = async (ctx, req, res) => {
  const r = await inferenceRequest(ctx, req, res);
  if (!r) return;
  const messages = r.body.messages;
  if (messages !== undefined && messages !== null && !Array.isArray(messages)) {
    return nativeError(
      res,
      400,
      "json: cannot unmarshal messages into Go struct field ChatRequest.messages of type []api.Message",
    );
  }
  if (!canComplete(ctx, r.model, "chat", res, nativeError)) return;
  if (!messages || messages.length === 0) return loadOrUnload(ctx, res, "/api/chat", r.model, r.modelJson, r.keepAlive, "chat");
  const key = messagesKey(messages);
  const seed = answerSeed(r.model, key);
  const { count, doneReason } = answerLength(requestOptions(r.body).num_predict, ctx.knobs.outputTokens);
  new InferenceJob({
    ctx,
    res,
    path: "/api/chat",
    model: r.model,
    keepAlive: r.keepAlive,
    sendError: nativeError,
    injectable: true,
    work: {
      kind: "generation",
      framer: new NativeChatFramer(r.modelJson),
      stream: r.body.stream !== false,
      seed,
      count,
      doneReason,
      promptTokens: countPromptTokens(key),
    },
  }).start();
};

/** `POST /api/generate`. */
export const generate: Handler = async (ctx, req, res) => {
  const r = await inferenceRequest(ctx, req, res);
  if (!r) return;
  const { prompt, system, suffix } = r.body;
  if (prompt !== undefined && prompt !== null && typeof prompt !== "string") {
    return nativeError(res, 400, "json: cannot unmarshal prompt into Go struct field GenerateRequest.prompt of type string");
  }
  if (!canComplete(ctx, r.model, "generate", res, nativeError)) return;
  if (!prompt) return loadOrUnload(ctx, res, "/api/generate", r.model, r.modelJson, r.keepAlive, "generate");
  const key = `${typeof system === "string" ? system : ""}\u0000${prompt}\u0000${typeof suffix === "string" ? suffix : ""}`;
  const seed = answerSeed(r.model, key);
  const { count, doneReason } = answerLength(requestOptions(r.body).num_predict, ctx.knobs.outputTokens);
  new InferenceJob({
    ctx,
    res,
    path: "/api/generate",
    model: r.model,
    keepAlive: r.keepAlive,
    sendError: nativeError,
    injectable: true,
    work: {
      kind: "generation",
      framer: new NativeGenerateFramer(r.modelJson, seed),
      stream: r.body.stream !== false,
      seed,
      count,
      doneReason,
      promptTokens: countPromptTokens(key),
    },
  }).start();
};

/** The strings to embed from an `input` field: a string or strings; undefined when invalid. */
export function embedInputs(input: unknown): string[] | undefined {
  if (input === undefined || input === null) return [];
  if (typeof input === "string") return input === "" ? [] : [input];
  if (Array.isArray(input) && input.every((x) => typeof x === "string")) return input as string[];
  return undefined;
}

/** `POST /api/embed`. */
export const embed: Handler = async (ctx, req, res) => {
  const r = await inferenceRequest(ctx, req, res);
  if (!r) return;
  const inputs = embedInputs(r.body.input);
  if (!inputs) return nativeError(res, 400, "invalid input type");
  const { model, modelJson } = r;
  let promptTokens = 0;
  for (const s of inputs) promptTokens += countPromptTokens(s);
  new InferenceJob({
    ctx,
    res,
    path: "/api/embed",
    model,
    keepAlive: r.keepAlive,
    sendError: nativeError,
    injectable: inputs.length > 0,
    work: {
      kind: "single",
      delayed: inputs.length > 0,
      render(loadNs, totalNs) {
        const vectors = inputs.map((s) => `[${embedding(model, s).join(",")}]`).join(",");
        let metrics = totalNs > 0 ? `,"total_duration":${totalNs}` : "";
        if (loadNs > 0) metrics += `,"load_duration":${loadNs}`;
        if (promptTokens > 0) metrics += `,"prompt_eval_count":${promptTokens}`;
        return `{"model":${modelJson},"embeddings":[${vectors}]${metrics}}`;
      },
    },
  }).start();
};

/** `POST /api/embeddings` (legacy): `{"embedding":[…]}`. */
export const embeddings: Handler = async (ctx, req, res) => {
  const r = await inferenceRequest(ctx, req, res);
  if (!r) return;
  const prompt = r.body.prompt;
  if (prompt !== undefined && prompt !== null && typeof prompt !== "string") return nativeError(res, 400, "invalid input type");
  const { model } = r;
  new InferenceJob({
    ctx,
    res,
    path: "/api/embeddings",
    model,
    keepAlive: r.keepAlive,
    sendError: nativeError,
    injectable: !!prompt,
    work: {
      kind: "single",
      delayed: !!prompt,
      render: () => `{"embedding":[${prompt ? embedding(model, prompt).join(",") : ""}]}`,
    },
  }).start();
};

/** `GET/HEAD /api/tags`. */
export const tags: Handler = (ctx, _req, res) => {
  const models: string[] = [];
  for (const e of ctx.catalog.values()) models.push(e.tagsJson);
  sendJson(res, 200, `{"models":[${models.join(",")}]}`);
};

/** `GET /api/ps`: resident models with their expiry. */
export const ps: Handler = (ctx, _req, res) => {
  const models = ctx.runtime.resident().map(({ name, expiresAt }) => {
    const e = ctx.catalog.get(name)!;
    return JSON.stringify({
      name,
      model: name,
      size: e.size,
      digest: e.digest,
      details: e.details,
      expires_at: new Date(expiresAt).toISOString(),
      size_vram: e.size,
      context_length: e.contextLength,
    });
  });
  sendJson(res, 200, `{"models":[${models.join(",")}]}`);
};

/** `POST /api/show`. */
export const show: Handler = async (ctx, req, res) => {
  const parsed = await readJsonBody(req);
  if (!parsed.ok) return nativeError(res, 400, parsed.message);
  const name = parsed.body.model ?? parsed.body.name;
  if (typeof name !== "string" || name === "") return nativeError(res, 400, "model is required");
  const entry = ctx.catalog.get(name);
  if (!entry) return nativeError(res, 404, `model '${name}' not found`);
  sendJson(res, 200, entry.showJson, JSON_TYPE);
};
