/**
 * The model-addressed endpoints of both HTTP dialects (native chat, generate, embed, embeddings,
 * show; /v1 chat/completions, completions, embeddings): decode the body, hand model, unit and
 * attributes to the route stage (route-request.ts), answer its refusal in the dialect's shape or
 * write the variant's upstream tag, options and keep_alive into the body, and hand it to an
 * Exchange that forwards it to the same endpoint on a node.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { ProxyContext } from "../proxy-context.ts";
import { OptionsRewrite, RouteProblem, routeRequest } from "../routing/route-request.ts";
import type { RoutingTable } from "../snapshot/routing-table.ts";
import { mintId } from "../upstream/byte-rewrite.ts";
import { Exchange, exchangeOf, type ExchangeSink } from "../upstream/exchange.ts";
import { nativeDialect, openAiDialect, type Dialect } from "./dialect.ts";
import { parseJsonBody, readBody, requestIdOf, type BodySource, type BodyTarget } from "./request-context.ts";
import { sendError, type ProxyResponse } from "./respond.ts";

/** One model-addressed endpoint. */
export interface InferenceEndpoint {
  /** Path on the node (the same as the client's). */
  readonly path: string;
  readonly dialect: Dialect;
  /** Prefix of minted /v1 ids ("chatcmpl-", "cmpl-"), or "" for none. */
  readonly idPrefix: string;
  /** How the route stage rewrites the request's options and keep_alive for its variant. */
  readonly rewrite: OptionsRewrite;
}

/** Endpoints by path. */
export const INFERENCE_ENDPOINTS: ReadonlyMap<string, InferenceEndpoint> = new Map(
  (
    [
      ["/api/chat", nativeDialect, "", OptionsRewrite.Variant],
      ["/api/generate", nativeDialect, "", OptionsRewrite.Variant],
      ["/api/embed", nativeDialect, "", OptionsRewrite.Variant],
      ["/api/embeddings", nativeDialect, "", OptionsRewrite.Variant],
      ["/api/show", nativeDialect, "", OptionsRewrite.None],
      ["/v1/chat/completions", openAiDialect, "chatcmpl-", OptionsRewrite.ClientOnly],
      ["/v1/completions", openAiDialect, "cmpl-", OptionsRewrite.ClientOnly],
      ["/v1/embeddings", openAiDialect, "", OptionsRewrite.ClientOnly],
    ] as const
  ).map(([path, dialect, idPrefix, rewrite]) => [path, { path, dialect, idPrefix, rewrite }]),
);

/** A client request as both node servers expose it. */
export interface ProxyRequest extends BodySource {
  readonly headers: IncomingHttpHeaders;
}

/** A client response usable as an exchange sink that can tell when the client left. */
export type ProxyResponseSink = ProxyResponse & ExchangeSink & { on(event: "close", listener: () => void): unknown };

const kGone = Symbol("client-gone");

/** The client connection closed: abort the exchange, or note it when none started yet. */
function onResponseClose(this: ExchangeSink & { [kGone]?: boolean }): void {
  this[kGone] = true;
  exchangeOf(this)?.abort();
}

/** One inference request while its body is read: the body's target, so no closures per request. */
class PendingInference implements BodyTarget {
  readonly ctx: ProxyContext;
  readonly endpoint: InferenceEndpoint;
  readonly headers: IncomingHttpHeaders;
  readonly res: ProxyResponseSink;
  readonly requestId: string;
  readonly startedAt: number;
  constructor(
    ctx: ProxyContext,
    endpoint: InferenceEndpoint,
    headers: IncomingHttpHeaders,
    res: ProxyResponseSink,
    requestId: string,
    startedAt: number,
  ) {
    this.ctx = ctx;
    this.endpoint = endpoint;
    this.headers = headers;
    this.res = res;
    this.requestId = requestId;
    this.startedAt = startedAt;
  }

  onBody(raw: Buffer): void {
    forward(this.ctx, this.endpoint, this.headers, raw, this.res, this.requestId, this.startedAt);
  }

  onBodyError(err: Error): void {
    const table = this.ctx.current();
    sendError(this.res, this.endpoint.dialect, 400, err.message, {
      requestId: this.requestId,
      snapshot: table?.versionHeader ?? "0",
      variant: "",
    });
  }
}

/** Serves one request to an inference endpoint. */
export function serveInference(ctx: ProxyContext, endpoint: InferenceEndpoint, req: ProxyRequest, res: ProxyResponseSink): void {
  const startedAt = performance.now();
  const requestId = requestIdOf(req.headers);
  // 'close' is emitted once: a plain listener, no once() wrapper.
  res.on("close", onResponseClose);
  readBody(req, new PendingInference(ctx, endpoint, req.headers, res, requestId, startedAt));
}

function forward(
  ctx: ProxyContext,
  endpoint: InferenceEndpoint,
  headers: IncomingHttpHeaders,
  raw: Buffer,
  res: ProxyResponseSink,
  requestId: string,
  startedAt: number,
): void {
  if ((res as { [kGone]?: boolean })[kGone] === true) return; // the client left while sending
  const dialect = endpoint.dialect;
  const table = ctx.current();
  if (table === undefined) {
    return sendError(
      res,
      dialect,
      503,
      "no routing snapshot yet",
      { requestId, snapshot: "0", variant: "" },
      { "retry-after": "1" },
    );
  }
  const parsed = parseJsonBody(raw);
  if (!parsed.ok) return refuse(res, dialect, 400, parsed.message, requestId, table);
  const body = parsed.body;
  if (endpoint.path === "/api/show" && body.model === undefined && typeof body.name === "string") body.model = body.name;
  const model = body.model;
  if (typeof model !== "string" || model === "") return refuse(res, dialect, 400, "model is required", requestId, table);
  const headerUnit = headers[table.settings.unitHeader];
  const unit =
    typeof headerUnit === "string" && headerUnit !== "" ? headerUnit : typeof body.user === "string" ? body.user : undefined;

  const routed = routeRequest(table, ctx.refKey, requestId, model, unit, headers, body.metadata, body.options, endpoint.rewrite);
  if (!routed.ok)
    return refuse(res, dialect, routed.problem === RouteProblem.NotFound ? 404 : 400, routed.message, requestId, table);

  body.model = routed.variant.model;
  if ("metadata" in body) delete body.metadata;
  if (endpoint.path === "/api/show") delete body.name;
  if (routed.options !== undefined) body.options = routed.options;
  if (routed.keepAlive !== undefined) body.keep_alive = routed.keepAlive;
  let dropUsage = false;
  if (dialect.kind !== "native" && body.stream === true && endpoint.idPrefix !== "") {
    const so = body.stream_options;
    const asked = so !== null && typeof so === "object" && (so as { include_usage?: unknown }).include_usage === true;
    if (!asked) {
      body.stream_options = { ...(so !== null && typeof so === "object" ? so : {}), include_usage: true };
      dropUsage = true;
    }
  }

  const exchange = new Exchange({
    table: table.acquire(),
    route: routed.route,
    assignment: routed.assignment,
    requestId,
    dialect,
    sink: res,
    method: "POST",
    path: endpoint.path,
    body: Buffer.from(JSON.stringify(body)),
    startedAt,
    mintedId: endpoint.idPrefix === "" ? null : Buffer.from(`"id":"${mintId(endpoint.idPrefix)}"`),
    dropUsage,
    onOutcome: ctx.onOutcome,
    seriesInFlight: ctx.seriesInFlight,
    logger: ctx.logger,
  });
  exchange.start();
}

/** Answers a request the proxy refuses before routing it anywhere (no variant served it). */
function refuse(
  res: ProxyResponseSink,
  dialect: Dialect,
  status: number,
  message: string,
  requestId: string,
  table: RoutingTable,
): void {
  sendError(res, dialect, status, message, { requestId, snapshot: table.versionHeader, variant: "" });
}
