/**
 * Ollama's OpenAI-compatible API on a simulated node: `/v1/chat/completions`,
 * `/v1/completions`, `/v1/embeddings`, `/v1/models` and `/v1/models/{model}`. `stream` defaults
 * to false; `keep_alive` cannot be set (the node's default applies).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { openAIError, readJsonBody, sendJson } from "./http-io.ts";
import { InferenceJob } from "./inference-job.ts";
import { embedInputs, type Handler } from "./native-routes.ts";
import { OpenAIChatFramer, OpenAICompletionFramer, type OpenAIFrameIdentity } from "./openai-framers.ts";
import { answerLength, canComplete, messagesKey, requestOptions, servedModel } from "./request-fields.ts";
import type { SimContext } from "./sim-context.ts";
import { answerSeed, countPromptTokens, embedding } from "./text-generator.ts";

async function openAIRequest(ctx: SimContext, req: IncomingMessage, res: ServerResponse) {
  ctx.counters.requests++;
  const parsed = await readJsonBody(req);
  if (!parsed.ok) return openAIError(res, 400, parsed.message);
  const body = parsed.body;
  ctx.emit({
    type: "request",
    path: req.url ?? "",
    model: body.model,
    options: requestOptions(body),
    keepAlive: body.keep_alive,
    headers: req.headers,
  });
  return body;
}

function identity(ctx: SimContext, prefix: string, model: string, body: Record<string, unknown>): OpenAIFrameIdentity {
  const so = body.stream_options as { include_usage?: unknown } | null | undefined;
  return {
    id: ctx.nextId(prefix),
    modelJson: JSON.stringify(model),
    created: Math.floor(Date.now() / 1000),
    includeUsage: so !== null && typeof so === "object" && so.include_usage === true,
  };
}

/** `POST /v1/chat/completions`. */
export const chatCompletions: Handler = async (ctx, req, res) => {
  const body = await openAIRequest(ctx, req, res);
  if (!body) return;
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return openAIError(res, 400, "[] is too short - 'messages'");
  const model = servedModel(ctx, body, res, openAIError);
  if (model === undefined || !canComplete(ctx, model, "chat", res, openAIError)) return;
  const key = messagesKey(messages);
  const seed = answerSeed(model, key);
  const { count, doneReason } = answerLength(body.max_tokens ?? body.max_completion_tokens, ctx.knobs.outputTokens);
  new InferenceJob({
    ctx,
    res,
    path: "/v1/chat/completions",
    model,
    keepAlive: undefined,
    sendError: openAIError,
    injectable: true,
    work: {
      kind: "generation",
      framer: new OpenAIChatFramer(identity(ctx, "chatcmpl", model, body)),
      stream: body.stream === true,
      seed,
      count,
      doneReason,
      promptTokens: countPromptTokens(key),
    },
  }).start();
};

/** `POST /v1/completions`. */
export const completions: Handler = async (ctx, req, res) => {
  const body = await openAIRequest(ctx, req, res);
  if (!body) return;
  const prompt = body.prompt ?? "";
  if (typeof prompt !== "string") return openAIError(res, 400, "invalid prompt: only a string is supported");
  const model = servedModel(ctx, body, res, openAIError);
  if (model === undefined || !canComplete(ctx, model, "generate", res, openAIError)) return;
  const key = `\u0000${prompt}\u0000${typeof body.suffix === "string" ? body.suffix : ""}`;
  const seed = answerSeed(model, key);
  const { count, doneReason } = answerLength(body.max_tokens, ctx.knobs.outputTokens);
  new InferenceJob({
    ctx,
    res,
    path: "/v1/completions",
    model,
    keepAlive: undefined,
    sendError: openAIError,
    injectable: true,
    work: {
      kind: "generation",
      framer: new OpenAICompletionFramer(identity(ctx, "cmpl", model, body)),
      stream: body.stream === true,
      seed,
      count,
      doneReason,
      promptTokens: countPromptTokens(key),
    },
  }).start();
};

/** `POST /v1/embeddings`. */
export const embeddingsV1: Handler = async (ctx, req, res) => {
  const body = await openAIRequest(ctx, req, res);
  if (!body) return;
  const inputs = embedInputs(body.input);
  if (!inputs || inputs.length === 0) return openAIError(res, 400, "invalid input");
  const model = servedModel(ctx, body, res, openAIError);
  if (model === undefined) return;
  let promptTokens = 0;
  for (const s of inputs) promptTokens += countPromptTokens(s);
  const modelJson = JSON.stringify(model);
  const base64 = typeof body.encoding_format === "string" && body.encoding_format.toLowerCase() === "base64";
  new InferenceJob({
    ctx,
    res,
    path: "/v1/embeddings",
    model,
    keepAlive: undefined,
    sendError: openAIError,
    injectable: true,
    work: {
      kind: "single",
      delayed: true,
      contentType: "application/json",
      render() {
        const data = inputs
          .map((s, i) => {
            const v = embedding(model, s);
            const e = base64 ? `"${Buffer.from(new Float32Array(v).buffer).toString("base64")}"` : `[${v.join(",")}]`;
            return `{"object":"embedding","embedding":${e},"index":${i}}`;
          })
          .join(",");
        return `{"object":"list","data":[${data}],"model":${modelJson},"usage":{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens}}}\n`;
      },
    },
  }).start();
};

function modelObject(ctx: SimContext, name: string): string {
  const created = ctx.catalog.get(name)!.modifiedAtUnix;
  const owner = name.includes("/") ? name.split("/")[0] : "library";
  return `{"id":${JSON.stringify(name)},"object":"model","created":${created},"owned_by":${JSON.stringify(owner)}}`;
}

/** `GET /v1/models`. */
export const listModels: Handler = (ctx, _req, res) => {
  const data = [...ctx.catalog.keys()].map((name) => modelObject(ctx, name)).join(",");
  sendJson(res, 200, `{"object":"list","data":[${data}]}\n`, "application/json");
};

/** `GET /v1/models/{model}`. */
export function retrieveModel(ctx: SimContext, res: ServerResponse, name: string): void {
  if (!ctx.catalog.has(name)) return openAIError(res, 404, `model '${name}' not found`);
  sendJson(res, 200, `${modelObject(ctx, name)}\n`, "application/json");
}
