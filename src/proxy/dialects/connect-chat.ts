/**
 * `turnout.v1.ChatService` on the traffic port: a Chat call is forwarded as a native streaming
 * `/api/chat` through the same route stage (route-request.ts) and exchange as HTTP traffic, and
 * the NDJSON answer becomes `ChatDelta`s and one final `ChatDone`. Errors before the answer map to
 * Connect codes (unknown model, or one outside the client key's scope → NotFound; a missing or
 * refused key → Unauthenticated; a key over its limits → ResourceExhausted with `retry-after` and
 * the x-ratelimit-* headers); a mid-stream failure ends the call with Unavailable after the deltas
 * already sent. Feedback checks the key and the ref and records the feedback like
 * `POST /v1/feedback` (accept-feedback.ts); bad input is InvalidArgument naming the field
 * (`ref: bad signature`), a replay AlreadyExists, no snapshot yet Unavailable.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type ChatService,
  ChatResponseSchema,
  FeedbackResponseSchema,
  type ChatRequest,
  type ChatResponse,
} from "../../../gen/turnout/v1/chat_pb.js";
import { ErrorCode, TurnoutError, toConnectError } from "../../errors.ts";
import { KEY_PROBLEM_MESSAGES } from "../auth/check-client-key.ts";
import { clampMaxTokens } from "../auth/clamp-max-tokens.ts";
import {
  admitKeyRequest,
  authenticate,
  isAdmitted,
  isKeyProblem,
  keyAnswerHeaders,
  leaseWait,
  leaseWaitOver,
  type ClientAuth,
} from "../auth/client-auth.ts";
import type { CompiledKey } from "../auth/compiled-key.ts";
import type { KeyUse } from "../auth/key-limiter.ts";
import { rateLimitHeaders, type LimitRefusal } from "../auth/rate-limit-headers.ts";
import { acceptFeedback } from "../feedback/accept-feedback.ts";
import type { ProxyContext } from "../proxy-context.ts";
import { OptionsRewrite, RouteProblem, routeRequest, type RoutedRequest } from "../routing/route-request.ts";
import { Exchange } from "../upstream/exchange.ts";
import { nativeDialect } from "./dialect.ts";
import { QueueSink } from "./queue-sink.ts";
import { requestIdOf } from "./request-context.ts";
import { CUT_SHORT } from "../upstream/upstream-failure.ts";
import type { RoutingTable } from "../snapshot/routing-table.ts";

/** Listener options of the call's abort listener (one object for every call). */
const ONCE = { once: true } as const;

/** Connect code for an HTTP status an upstream or the proxy answered before the stream. */
function codeOf(status: number): Code {
  if (status === 400) return Code.InvalidArgument;
  if (status === 404) return Code.NotFound;
  if (status === 429 || status === 503) return Code.Unavailable;
  if (status === 504) return Code.DeadlineExceeded;
  if (status === 502) return Code.Unavailable;
  return Code.Internal;
}

interface NativeLine {
  error?: string;
  done?: boolean;
  done_reason?: string;
  message?: { content?: string; thinking?: string };
  prompt_eval_count?: number;
  eval_count?: number;
}

/** Copies `headers` (x-ratelimit-*, retry-after) into the call's response headers. */
function setHeaders(call: HandlerContext, headers: OutgoingHttpHeaders | undefined): void {
  if (headers !== undefined) for (const name in headers) call.responseHeader.set(name, String(headers[name]));
}

/** The call's client key on `table` (undefined: anonymous); a refused one throws Unauthenticated. */
function callKey(auth: ClientAuth, table: RoutingTable, call: HandlerContext): CompiledKey | undefined {
  const who = authenticate(auth, table, { authorization: call.requestHeader.get("authorization") ?? undefined });
  if (isKeyProblem(who)) {
    call.responseHeader.set("www-authenticate", 'Bearer realm="turnout"');
    throw new ConnectError(KEY_PROBLEM_MESSAGES[who], Code.Unauthenticated);
  }
  return who;
}

/** A Chat call routed and admitted: the table it is pinned to, its key, where it goes, the key's counters. */
interface RoutedCall {
  readonly table: RoutingTable;
  readonly key: CompiledKey | undefined;
  readonly routed: RoutedRequest;
  readonly keyUse: KeyUse | null;
}

/**
 * The key check, route stage and key limits of a Chat call on the current table: the routed
 * call, or the refusal of a key's limit (which the caller may wait out); anything else throws
 * the Connect error.
 */
function routeCall(
  ctx: ProxyContext,
  req: ChatRequest,
  call: HandlerContext,
  headers: Record<string, string>,
  requestId: string,
): RoutedCall | LimitRefusal {
  const table = ctx.current();
  call.responseHeader.set("x-turnout-snapshot", table?.versionHeader ?? "0");
  if (table === undefined) throw new ConnectError("no routing snapshot yet", Code.Unavailable);
  const key = callKey(ctx.clientAuth, table, call);
  if (req.model === "") {
    setHeaders(call, keyAnswerHeaders(ctx.clientAuth, key));
    throw toConnectError(
      new TurnoutError(ErrorCode.InvalidArgument, "model is required", {
        violations: [{ field: "model", message: "is required" }],
      }),
    );
  }
  // The unit: the request's `user`, the unit header, else the client key's id.
  const unit = req.user || call.requestHeader.get(table.settings.unitHeader) || key?.id;
  const routed = routeRequest(
    table,
    ctx.refKey,
    requestId,
    req.model,
    unit,
    headers,
    undefined,
    req.options,
    OptionsRewrite.Variant,
    undefined,
    key === undefined ? null : key.routes,
  );
  if (!routed.ok) {
    setHeaders(call, keyAnswerHeaders(ctx.clientAuth, key));
    const code = routed.problem === RouteProblem.NotFound ? ErrorCode.NotFound : ErrorCode.InvalidArgument;
    throw toConnectError(new TurnoutError(code, routed.message, { violations: [...routed.violations] }));
  }
  // The key's limits, last: every refusal above leaves its counters untouched.
  if (key === undefined) return { table, key, routed, keyUse: null };
  const admitted = admitKeyRequest(ctx.clientAuth, key);
  if (admitted === null) return { table, key, routed, keyUse: null };
  if (!isAdmitted(admitted)) return admitted;
  setHeaders(call, rateLimitHeaders(ctx.clientAuth.limiter, admitted, key.limits) ?? undefined);
  return { table, key, routed, keyUse: admitted };
}

/** The ChatService implementation. */
export function createChatService(ctx: ProxyContext): ServiceImpl<typeof ChatService> {
  return {
    feedback(req, call) {
      const table = ctx.current();
      if (table !== undefined) callKey(ctx.clientAuth, table, call);
      else if (ctx.clientAuth.required) throw new ConnectError("no routing snapshot yet", Code.Unavailable);
      const ref = req.ref || call.requestHeader.get("x-turnout-ref") || "";
      try {
        const desk = { refKey: ctx.refKey, replays: ctx.feedbackReplays, listener: ctx.onFeedback };
        const r = acceptFeedback({ ref, metric: req.metric, value: req.value }, table?.feedback, desk);
        return create(FeedbackResponseSchema, { accepted: true, experiment: r.experiment, arm: r.arm });
      } catch (err) {
        throw toConnectError(err);
      }
    },
    async *chat(req: ChatRequest, call: HandlerContext): AsyncGenerator<ChatResponse> {
      const startedAt = performance.now();
      const headers: Record<string, string> = {};
      call.requestHeader.forEach((value, key) => (headers[key] = value));
      const requestId = requestIdOf(headers);
      call.responseHeader.set("x-request-id", requestId);
      let r = routeCall(ctx, req, call, headers, requestId);
      for (let waited = 0; !("routed" in r); waited++) {
        // Over this proxy's lease while the fleet is below the limit: again after the next lease.
        const wait = leaseWait(r, waited);
        if (wait < 0) {
          setHeaders(call, r.headers);
          throw new ConnectError(r.message, Code.ResourceExhausted);
        }
        try {
          await sleep(wait, undefined, { signal: call.signal });
        } finally {
          leaseWaitOver(r);
        }
        r = routeCall(ctx, req, call, headers, requestId);
      }
      const { table, key, routed, keyUse } = r;
      const { route, variant, assignment } = routed;
      call.responseHeader.set("x-turnout-variant", variant.name);
      if (assignment.experiment !== undefined) call.responseHeader.set("x-turnout-ref", assignment.experiment.ref);

      const body: Record<string, unknown> = {
        model: variant.model,
        messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
        stream: true,
      };
      if (routed.options !== undefined) body.options = routed.options;
      if (routed.keepAlive !== undefined) body.keep_alive = routed.keepAlive;
      const max = key?.limits.maxTokensPerRequest ?? 0;
      if (max > 0) clampMaxTokens(body, false, max);

      const sink = new QueueSink();
      const exchange = new Exchange({
        table: table.acquire(),
        route,
        assignment,
        requestId,
        dialect: nativeDialect,
        sink,
        method: "POST",
        path: "/api/chat",
        body: Buffer.from(JSON.stringify(body)),
        startedAt,
        mintedId: null,
        dropUsage: false,
        onOutcome: ctx.onOutcome,
        seriesInFlight: ctx.seriesInFlight,
        logger: ctx.logger,
        keyUse,
      });
      const onAbort = () => exchange.abort();
      call.signal.addEventListener("abort", onAbort, ONCE);
      if (call.signal.aborted) exchange.abort();
      exchange.start();
      let settled = false; // the answer ended on its own (done, error line, error status)
      try {
        const head = await sink.head;
        if (head.status >= 300) {
          let text = "";
          for await (const chunk of sink.body()) text += chunk.toString("utf8");
          let message = text;
          try {
            const parsed = JSON.parse(text) as { error?: unknown };
            if (typeof parsed.error === "string") message = parsed.error;
          } catch {
            // keep the raw text
          }
          settled = true;
          throw new ConnectError(message || `upstream answered ${head.status}`, codeOf(head.status));
        }
        let carry = "";
        let ttftMs = -1;
        for await (const chunk of sink.body()) {
          const text = carry + chunk.toString("utf8");
          const lines = text.split("\n");
          carry = lines.pop() ?? "";
          for (const line of lines) {
            if (line === "") continue;
            const parsed = JSON.parse(line) as NativeLine;
            if (parsed.error !== undefined) {
              settled = true;
              throw new ConnectError(parsed.error, Code.Unavailable);
            }
            if (parsed.done === true) {
              settled = true;
              yield create(ChatResponseSchema, {
                event: {
                  case: "done",
                  value: {
                    doneReason: parsed.done_reason ?? "stop",
                    promptTokens: parsed.prompt_eval_count ?? 0,
                    completionTokens: parsed.eval_count ?? 0,
                    timeToFirstTokenMs: ttftMs < 0 ? performance.now() - startedAt : ttftMs,
                    variant: variant.name,
                    snapshotVersion: BigInt(table.version),
                    requestId,
                    model: route.name,
                  },
                },
              });
              return;
            }
            const content = parsed.message?.content ?? "";
            const thinking = parsed.message?.thinking ?? "";
            if (content === "" && thinking === "") continue;
            if (ttftMs < 0) ttftMs = performance.now() - startedAt;
            yield create(ChatResponseSchema, { event: { case: "delta", value: { content, thinking } } });
          }
        }
        settled = true;
        throw new ConnectError(CUT_SHORT, Code.Unavailable);
      } finally {
        call.signal.removeEventListener("abort", onAbort);
        if (!settled) exchange.abort(); // the caller stopped reading early
      }
    },
  };
}
