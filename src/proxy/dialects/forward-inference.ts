/**
 * The model-addressed endpoints of both HTTP dialects (native chat, generate, embed, embeddings,
 * show; /v1 chat/completions, completions, embeddings): decode the body, route by `model`, assign
 * a variant, rewrite the request for the variant's upstream tag, and hand it to an Exchange that
 * forwards it to the same endpoint on a node.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { ProxyContext } from "../proxy-context.ts";
import { assignVariant } from "../routing/assign-variant.ts";
import type { Assignment } from "../routing/assignment.ts";
import { assignExperiment } from "../routing/route-experiments.ts";
import { resolveRoute } from "../routing/resolve-route.ts";
import { mintId } from "../upstream/byte-rewrite.ts";
import { Exchange, exchangeOf, type ExchangeSink } from "../upstream/exchange.ts";
import { nativeDialect, openAiDialect, type Dialect } from "./dialect.ts";
import { normalizeOptions, parseJsonBody, readBody, requestIdOf, type BodySource, type BodyTarget } from "./request-context.ts";
import { sendError, type ProxyResponse } from "./respond.ts";

/** One model-addressed endpoint. */
export interface InferenceEndpoint {
  /** Path on the node (the same as the client's). */
  readonly path: string;
  readonly dialect: Dialect;
  /** Prefix of minted /v1 ids ("chatcmpl-", "cmpl-"), or "" for none. */
  readonly idPrefix: string;
}

/** Endpoints by path. */
export const INFERENCE_ENDPOINTS: ReadonlyMap<string, InferenceEndpoint> = new Map(
  ([
    ["/api/chat", nativeDialect, ""],
    ["/api/generate", nativeDialect, ""],
    ["/api/embed", nativeDialect, ""],
    ["/api/embeddings", nativeDialect, ""],
    ["/api/show", nativeDialect, ""],
    ["/v1/chat/completions", openAiDialect, "chatcmpl-"],
    ["/v1/completions", openAiDialect, "cmpl-"],
    ["/v1/embeddings", openAiDialect, ""],
  ] as const).map(([path, dialect, idPrefix]) => [path, { path, dialect, idPrefix }]),
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
  constructor(ctx: ProxyContext, endpoint: InferenceEndpoint, headers: IncomingHttpHeaders, res: ProxyResponseSink, requestId: string, startedAt: number) {
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
    sendError(this.res, this.endpoint.dialect, 400, err.message, { requestId: this.requestId, snapshot: table?.versionHeader ?? "0", variant: "" });
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

function forward(ctx: ProxyContext, endpoint: InferenceEndpoint, headers: IncomingHttpHeaders, raw: Buffer, res: ProxyResponseSink, requestId: string, startedAt: number): void {
  if ((res as { [kGone]?: boolean })[kGone] === true) return; // the client left while sending
  const dialect = endpoint.dialect;
  const table = ctx.current();
  if (table === undefined) {
    return sendError(res, dialect, 503, "no routing snapshot yet", { requestId, snapshot: "0", variant: "" }, { "retry-after": "1" });
  }
  const meta = { requestId, snapshot: table.versionHeader, variant: "" };
  const parsed = parseJsonBody(raw);
  if (!parsed.ok) return sendError(res, dialect, 400, parsed.message, meta);
  const body = parsed.body;
  if (endpoint.path === "/api/show" && body.model === undefined && typeof body.name === "string") body.model = body.name;
  const model = body.model;
  if (typeof model !== "string" || model === "") return sendError(res, dialect, 400, "model is required", meta);
  const route = resolveRoute(table, model);
  if (route === undefined) return sendError(res, dialect, 404, `model '${model}' not found`, meta);

  const headerUnit = headers[table.settings.unitHeader];
  const unit = typeof headerUnit === "string" && headerUnit !== "" ? headerUnit : typeof body.user === "string" ? body.user : undefined;
  let assignment: Assignment | undefined;
  if (route.experiments !== null) {
    const req = { unit, headers, metadata: body.metadata, requestId, snapshotVersion: table.version, key: ctx.refKey };
    const inExperiment = assignExperiment(route.experiments, req);
    if (typeof inExperiment === "string") return sendError(res, dialect, 400, inExperiment, meta);
    assignment = inExperiment;
  }
  assignment ??= assignVariant(route, unit);
  const variant = assignment.variant;

  body.model = variant.model;
  if ("metadata" in body) delete body.metadata;
  let dropUsage = false;
  if (dialect.kind === "native") {
    if (endpoint.path === "/api/show") delete body.name;
    else {
      // Clients cannot make a node reload the model: runner options are the variant's alone.
      if (body.options !== undefined || variant.options !== undefined) body.options = normalizeOptions(body.options, variant.options);
      if (variant.keepAlive !== "") body.keep_alive = keepAliveValue(variant.keepAlive);
    }
  } else {
    // /v1 has no options of its own, but a client may send Ollama's; and keep_alive is the variant's.
    if (body.options !== undefined) body.options = normalizeOptions(body.options, undefined);
    if (variant.keepAlive !== "") body.keep_alive = keepAliveValue(variant.keepAlive);
  }
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
    route,
    assignment,
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

/** keep_alive as Ollama takes it: a number of seconds stays a number, else the duration string. */
function keepAliveValue(value: string): string | number {
  return /^-?\d+$/.test(value) ? Number(value) : value;
}
