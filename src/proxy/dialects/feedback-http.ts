/**
 * `POST /v1/feedback` on the traffic port: a JSON body `{"ref": "...", "metric": "thumbs_up",
 * "value": 1}` (the ref may come in the `x-turnout-ref` header instead; the body's wins). Accepted
 * feedback is answered `202 {"accepted":true,"experiment":...,"arm":...}`; anything wrong (no
 * ref, a malformed, forged, altered, other-key or expired ref, one for an experiment, phase or arm
 * the snapshot does not have, a bad or undeclared metric, a value that is not finite or out of the
 * metric's range, a body that is not a JSON object) is answered
 * `400 {"error":"ref: bad signature","violations":[{field,message}]}`, a replay (feedback on the
 * same ref and metric accepted before, anywhere in the fleet) `409` in the same shape, and nothing
 * is recorded. Never a 5xx for bad input; `503` with `retry-after` before the first snapshot, and
 * for a ref signed on a newer snapshot naming an experiment or phase this proxy does not know yet. With
 * client keys required, a request without a good one is answered `401 {"error":"invalid API key"}`
 * before its body is read.
 */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { ErrorCode, TurnoutError, formatViolations, type FieldViolation } from "../../errors.ts";
import { KEY_PROBLEM_MESSAGES } from "../auth/check-client-key.ts";
import { UNAUTHORIZED_HEADERS, authenticate, isKeyProblem } from "../auth/client-auth.ts";
import { acceptFeedback } from "../feedback/accept-feedback.ts";
import type { ProxyContext } from "../proxy-context.ts";
import { requestIdOf } from "./request-context.ts";
import { nativeDialect } from "./dialect.ts";
import { sendError, sendJson, type AnswerMeta, type ProxyResponse } from "./respond.ts";

/** The path of the feedback endpoint. */
export const FEEDBACK_PATH = "/v1/feedback";
/** Largest feedback body read, in bytes. */
const MAX_FEEDBACK_BYTES = 16 * 1024;

function reject(res: ProxyResponse, meta: AnswerMeta, violations: readonly FieldViolation[], status = 400): void {
  sendJson(res, status, JSON.stringify({ error: formatViolations(violations), violations }), meta);
}

/** Answers one `POST /v1/feedback`. */
export function serveFeedback(ctx: ProxyContext, req: IncomingMessage | Http2ServerRequest, res: ProxyResponse): void {
  const table = ctx.current();
  const meta: AnswerMeta = { requestId: requestIdOf(req.headers), snapshot: table?.versionHeader ?? "0", variant: "" };
  if (table === undefined && ctx.clientAuth.required)
    return sendError(res, nativeDialect, 503, "no routing snapshot yet", meta, { "retry-after": "1" });
  const who = table === undefined ? undefined : authenticate(ctx.clientAuth, table, req.headers);
  if (isKeyProblem(who)) return sendError(res, nativeDialect, 401, KEY_PROBLEM_MESSAGES[who], meta, UNAUTHORIZED_HEADERS);
  const parts: Buffer[] = [];
  let size = 0;
  let done = false;
  req.on("data", (chunk: Buffer) => {
    if (done) return;
    size += chunk.length;
    if (size > MAX_FEEDBACK_BYTES) {
      done = true;
      reject(res, meta, [{ field: "body", message: `larger than ${MAX_FEEDBACK_BYTES} bytes` }]);
      return;
    }
    parts.push(chunk);
  });
  req.on("error", () => {
    done = true;
  });
  req.on("end", () => {
    if (done) return;
    done = true;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(parts).toString("utf8"));
    } catch {
      body = undefined;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body))
      return reject(res, meta, [{ field: "body", message: "must be a JSON object {ref, metric, value}" }]);
    const b = body as Record<string, unknown>;
    const header = req.headers["x-turnout-ref"];
    const ref = b.ref ?? (typeof header === "string" ? header : undefined);
    try {
      const desk = { refKey: ctx.refKey, replays: ctx.feedbackReplays, listener: ctx.onFeedback };
      const r = acceptFeedback({ ref, metric: b.metric, value: b.value }, ctx.current()?.feedback, desk);
      sendJson(res, 202, JSON.stringify({ accepted: true, experiment: r.experiment, arm: r.arm }), meta);
    } catch (err) {
      if (!(err instanceof TurnoutError)) throw err;
      if (err.code === ErrorCode.Unavailable)
        return sendError(res, nativeDialect, 503, err.message, meta, { "retry-after": "1" });
      if (err.violations.length === 0) throw err;
      reject(res, meta, err.violations, err.code === ErrorCode.AlreadyExists ? 409 : 400);
    }
  });
}
