/**
 * The model-addressed endpoints of both HTTP dialects (native chat, generate, embed, embeddings,
 * show; /v1 chat/completions, completions, embeddings): check the client key (before the body is
 * read: a refused request costs no upload), decode the body, hand model, unit and attributes to
 * the route stage (route-request.ts), answer its refusal in the dialect's shape or write the
 * variant's upstream tag, options and keep_alive into the body, admit the request under the key's
 * limits (clamping its generation length), and hand it to an Exchange that forwards it to the same
 * endpoint on a node. The key never reaches the node: the exchange sends headers of its own.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { KEY_PROBLEM_MESSAGES } from "../auth/check-client-key.ts";
import { clampMaxTokens } from "../auth/clamp-max-tokens.ts";
import {
  UNAUTHORIZED_HEADERS,
  admitKeyRequest,
  authenticate,
  isAdmitted,
  isKeyProblem,
  keyAnswerHeaders,
  leaseWait,
  leaseWaitOver,
} from "../auth/client-auth.ts";
import type { CompiledKey } from "../auth/compiled-key.ts";
import type { KeyUse } from "../auth/key-limiter.ts";
import { rateLimitHeaders } from "../auth/rate-limit-headers.ts";
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
  /** It generates text (a key's max_tokens_per_request applies). */
  readonly generates: boolean;
}

/** Endpoints by path. */
export const INFERENCE_ENDPOINTS: ReadonlyMap<string, InferenceEndpoint> = new Map(
  (
    [
      ["/api/chat", nativeDialect, "", OptionsRewrite.Variant, true],
      ["/api/generate", nativeDialect, "", OptionsRewrite.Variant, true],
      ["/api/embed", nativeDialect, "", OptionsRewrite.Variant, false],
      ["/api/embeddings", nativeDialect, "", OptionsRewrite.Variant, false],
      ["/api/show", nativeDialect, "", OptionsRewrite.None, false],
      ["/v1/chat/completions", openAiDialect, "chatcmpl-", OptionsRewrite.ClientOnly, true],
      ["/v1/completions", openAiDialect, "cmpl-", OptionsRewrite.ClientOnly, true],
      ["/v1/embeddings", openAiDialect, "", OptionsRewrite.ClientOnly, false],
    ] as const
  ).map(([path, dialect, idPrefix, rewrite, generates]) => [path, { path, dialect, idPrefix, rewrite, generates }]),
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
  /** The client key (undefined: anonymous), or null when not checked yet (no snapshot when the request came). */
  readonly key: CompiledKey | undefined | null;
  constructor(
    ctx: ProxyContext,
    endpoint: InferenceEndpoint,
    headers: IncomingHttpHeaders,
    res: ProxyResponseSink,
    requestId: string,
    startedAt: number,
    key: CompiledKey | undefined | null,
  ) {
    this.ctx = ctx;
    this.endpoint = endpoint;
    this.headers = headers;
    this.res = res;
    this.requestId = requestId;
    this.startedAt = startedAt;
    this.key = key;
  }

  onBody(raw: Buffer): void {
    forward(this.ctx, this.endpoint, this.headers, raw, this.res, this.requestId, this.startedAt, this.key, 0);
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
  const table = ctx.current();
  let key: CompiledKey | undefined | null = null;
  if (table !== undefined) {
    const who = authenticate(ctx.clientAuth, table, req.headers);
    if (isKeyProblem(who))
      return sendError(
        res,
        endpoint.dialect,
        401,
        KEY_PROBLEM_MESSAGES[who],
        { requestId, snapshot: table.versionHeader, variant: "" },
        UNAUTHORIZED_HEADERS,
      );
    key = who;
  }
  // 'close' is emitted once: a plain listener, no once() wrapper.
  res.on("close", onResponseClose);
  readBody(req, new PendingInference(ctx, endpoint, req.headers, res, requestId, startedAt, key));
}

function forward(
  ctx: ProxyContext,
  endpoint: InferenceEndpoint,
  headers: IncomingHttpHeaders,
  raw: Buffer,
  res: ProxyResponseSink,
  requestId: string,
  startedAt: number,
  checkedKey: CompiledKey | undefined | null,
  waited: number,
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
  let key = checkedKey;
  if (key === null) {
    // No snapshot when the request came: the key is checked against the one it starts on.
    const who = authenticate(ctx.clientAuth, table, headers);
    if (isKeyProblem(who))
      return sendError(
        res,
        dialect,
        401,
        KEY_PROBLEM_MESSAGES[who],
        { requestId, snapshot: table.versionHeader, variant: "" },
        UNAUTHORIZED_HEADERS,
      );
    key = who;
  }
  const parsed = parseJsonBody(raw);
  if (!parsed.ok) return refuse(ctx, res, dialect, 400, parsed.message, requestId, table, key);
  const body = parsed.body;
  if (endpoint.path === "/api/show" && body.model === undefined && typeof body.name === "string") body.model = body.name;
  const model = body.model;
  if (typeof model !== "string" || model === "")
    return refuse(ctx, res, dialect, 400, "model is required", requestId, table, key);
  const headerUnit = headers[table.settings.unitHeader];
  // The unit: the unit header, the body's `user`, else the client key's id.
  const unit =
    typeof headerUnit === "string" && headerUnit !== ""
      ? headerUnit
      : typeof body.user === "string" && body.user !== ""
        ? body.user
        : key?.id;

  const routed = routeRequest(
    table,
    ctx.refKey,
    requestId,
    model,
    unit,
    headers,
    body.metadata,
    body.options,
    endpoint.rewrite,
    body.keep_alive,
    key === undefined ? null : key.routes,
  );
  if (!routed.ok)
    return refuse(ctx, res, dialect, routed.problem === RouteProblem.NotFound ? 404 : 400, routed.message, requestId, table, key);

  body.model = routed.variant.model;
  if ("metadata" in body) delete body.metadata;
  if (endpoint.path === "/api/show") delete body.name;
  if (routed.options !== undefined) body.options = routed.options;
  if (routed.keepAlive !== undefined) body.keep_alive = routed.keepAlive;
  else if ("keep_alive" in body) delete body.keep_alive;
  let dropUsage = false;
  if (dialect.kind !== "native" && body.stream === true && endpoint.idPrefix !== "") {
    const so = body.stream_options;
    const asked = so !== null && typeof so === "object" && (so as { include_usage?: unknown }).include_usage === true;
    if (!asked) {
      body.stream_options = { ...(so !== null && typeof so === "object" ? so : {}), include_usage: true };
      dropUsage = true;
    }
  }

  // The key's limits, last: every refusal above leaves its counters untouched.
  let keyUse: KeyUse | null = null;
  let extraHeaders: OutgoingHttpHeaders | null = null;
  if (key !== undefined) {
    const admitted = admitKeyRequest(ctx.clientAuth, key);
    if (admitted !== null) {
      if (!isAdmitted(admitted)) {
        // Over this proxy's lease while the fleet is below the limit: again after the next lease,
        // from the top — the key checked again too (the table may have changed meanwhile).
        const wait = leaseWait(admitted, waited);
        if (wait >= 0) {
          setTimeout(() => {
            leaseWaitOver(admitted);
            forward(ctx, endpoint, headers, raw, res, requestId, startedAt, null, waited + 1);
          }, wait);
          return;
        }
        return sendError(
          res,
          dialect,
          429,
          admitted.message,
          { requestId, snapshot: table.versionHeader, variant: "" },
          admitted.headers,
          admitted.type,
        );
      }
      keyUse = admitted;
      extraHeaders = rateLimitHeaders(ctx.clientAuth.limiter, admitted, key.limits);
    }
    const max = key.limits.maxTokensPerRequest;
    if (max > 0 && endpoint.generates) clampMaxTokens(body, dialect.kind === "openai", max);
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
    keyUse,
    extraHeaders,
  });
  exchange.start();
}

/** Answers a request the proxy refuses before routing it anywhere (no variant served it); a limited key's answer says its limits. */
function refuse(
  ctx: ProxyContext,
  res: ProxyResponseSink,
  dialect: Dialect,
  status: number,
  message: string,
  requestId: string,
  table: RoutingTable,
  key: CompiledKey | undefined,
): void {
  sendError(
    res,
    dialect,
    status,
    message,
    { requestId, snapshot: table.versionHeader, variant: "" },
    keyAnswerHeaders(ctx.clientAuth, key),
  );
}
