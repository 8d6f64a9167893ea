/**
 * The HTTP dialects' router on the traffic port: Ollama's native paths, the OpenAI-compatible
 * /v1 paths, `/health` and `POST /v1/feedback` (feedback-http.ts). Model-addressed endpoints go to
 * `serveInference`; the rest the proxy answers itself. The model listings need a client key when
 * keys are required, and list only the routes the key may use. Unknown paths get Gin's plain 404
 * and known paths with the wrong method a 405, as Ollama does.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { KEY_PROBLEM_MESSAGES } from "../auth/check-client-key.ts";
import { UNAUTHORIZED_HEADERS, authenticate, isKeyProblem } from "../auth/client-auth.ts";
import type { CompiledKey } from "../auth/compiled-key.ts";
import type { ProxyContext } from "../proxy-context.ts";
import type { RoutingTable } from "../snapshot/routing-table.ts";
import { nativeDialect, openAiDialect, JSON_TYPE, type Dialect } from "./dialect.ts";
import { FEEDBACK_PATH, serveFeedback } from "./feedback-http.ts";
import { INFERENCE_ENDPOINTS, serveInference, type ProxyResponseSink } from "./forward-inference.ts";
import { modelBody, modelsBody, psBody, tagsBody } from "./listings.ts";
import { requestIdOf } from "./request-context.ts";
import { sendBody, sendError, sendJson, sendPlainStatus, type AnswerMeta } from "./respond.ts";

/** Version reported on `/api/version`: the Ollama API this proxy is faithful to. */
const OLLAMA_API_VERSION = "0.12.6";

const GET_PATHS = new Set(["/", "/api/version", "/api/tags", "/api/ps", "/v1/models", "/health"]);

/** Builds the request handler of the HTTP dialects. */
export function createHttpHandler(
  ctx: ProxyContext,
): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void {
  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? "GET";
    const sink = res as unknown as ProxyResponseSink;

    const endpoint = INFERENCE_ENDPOINTS.get(path);
    if (endpoint !== undefined) {
      if (method === "POST") return serveInference(ctx, endpoint, req, sink);
      return sendPlainStatus(sink, 405, metaOf(ctx, req));
    }
    if (path === FEEDBACK_PATH) {
      if (method === "POST") return serveFeedback(ctx, req, sink);
      return sendPlainStatus(sink, 405, metaOf(ctx, req));
    }
    const isGet = method === "GET" || method === "HEAD";
    if (GET_PATHS.has(path)) {
      if (!isGet) return sendPlainStatus(sink, 405, metaOf(ctx, req));
      return serveInfo(ctx, path, method === "HEAD", req, sink);
    }
    if (path.startsWith("/v1/models/")) {
      if (!isGet) return sendPlainStatus(sink, 405, metaOf(ctx, req));
      const meta = metaOf(ctx, req);
      const table = ctx.current();
      const key = table && listingKey(ctx, table, req, openAiDialect, sink, meta);
      if (key === false) return;
      const id = decodeURIComponent(path.slice("/v1/models/".length));
      const body = table && modelBody(table, id, key?.routes ?? null);
      if (body === undefined) return sendError(sink, openAiDialect, 404, `model '${id}' not found`, meta);
      return sendJson(sink, 200, body, meta);
    }
    sendPlainStatus(sink, 404, metaOf(ctx, req));
  };
}

function metaOf(ctx: ProxyContext, req: IncomingMessage | Http2ServerRequest): AnswerMeta {
  return { requestId: requestIdOf(req.headers), snapshot: ctx.current()?.versionHeader ?? "0", variant: "" };
}

/**
 * The client key of a listing request on `table` (undefined: anonymous), or false when it was
 * refused (answered 401 in `dialect`'s shape).
 */
function listingKey(
  ctx: ProxyContext,
  table: RoutingTable,
  req: IncomingMessage | Http2ServerRequest,
  dialect: Dialect,
  res: ProxyResponseSink,
  meta: AnswerMeta,
): CompiledKey | undefined | false {
  const who = authenticate(ctx.clientAuth, table, req.headers);
  if (!isKeyProblem(who)) return who;
  sendError(res, dialect, 401, KEY_PROBLEM_MESSAGES[who], meta, UNAUTHORIZED_HEADERS);
  return false;
}

function serveInfo(
  ctx: ProxyContext,
  path: string,
  head: boolean,
  req: IncomingMessage | Http2ServerRequest,
  res: ProxyResponseSink,
): void {
  const meta = metaOf(ctx, req);
  const table = ctx.current();
  switch (path) {
    case "/":
      return sendBody(res, 200, "text/plain; charset=utf-8", "Ollama is running", meta, head);
    case "/api/version":
      return sendJson(res, 200, JSON.stringify({ version: OLLAMA_API_VERSION }), meta, head);
    case "/health":
      return sendJson(
        res,
        table ? 200 : 503,
        JSON.stringify({ status: table ? "ok" : "no_snapshot", snapshot_version: table?.version ?? 0 }),
        meta,
        head,
      );
  }
  const dialect = path.startsWith("/v1/") ? openAiDialect : nativeDialect;
  if (table === undefined) return sendError(res, dialect, 503, "no routing snapshot yet", meta, { "retry-after": "1" });
  const key = listingKey(ctx, table, req, dialect, res, meta);
  if (key === false) return;
  if (path === "/api/tags") return sendJson(res, 200, tagsBody(table, key), meta, head);
  if (path === "/v1/models") return sendJson(res, 200, modelsBody(table, key), meta, head);
  // /api/ps asks the nodes; pin the table meanwhile.
  table.acquire();
  psBody(table, key?.routes ?? null)
    .then(
      (body) => sendJson(res, 200, body, meta, head),
      () => sendBody(res, 500, JSON_TYPE, nativeDialect.errorBody(500, "could not list running models"), meta),
    )
    .finally(() => table.release());
}
