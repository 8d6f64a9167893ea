/**
 * The client-key stage as the dialects use it: who a request is (check-client-key.ts, against the
 * table the request starts on), and — for a key with limits — whether it may start now
 * (key-limiter.ts), with the x-ratelimit-* headers of its answer or the 429 that refuses it
 * (rate-limit-headers.ts). A request over its proxy's lease while the fleet is below the limit
 * waits for the next lease (a sharing interval, at most {@link LEASE_WAITS} times) rather than
 * being refused. The dialects answer the problems in their own shapes.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { RoutingTable } from "../snapshot/routing-table.ts";
import { checkClientKey, type KeyProblem } from "./check-client-key.ts";
import type { CompiledKey } from "./compiled-key.ts";
import { Admission, KeyUse, type KeyLimiter } from "./key-limiter.ts";

/** Most times a request waits for its proxy's next lease (one sharing interval each) before it is refused. */
const LEASE_WAITS = 20;
/** Most requests of one key waiting for a lease on one proxy; more are refused at once. */
const MAX_WAITING = 256;
import { limitRefusal, rateLimitHeaders, type LimitRefusal } from "./rate-limit-headers.ts";

/** The traffic port's client-key settings and the proxy's limiter. */
export interface ClientAuth {
  /** Every model request, listing and feedback needs a client key. */
  readonly required: boolean;
  readonly limiter: KeyLimiter;
}

/** `WWW-Authenticate` of a 401 (RFC 6750). */
export const UNAUTHORIZED_HEADERS: OutgoingHttpHeaders = Object.freeze({ "www-authenticate": 'Bearer realm="turnout"' });

/**
 * The client key of a request with `headers` on `table`: the key, undefined for an anonymous
 * request (allowed only when keys are not required), or why it is refused.
 */
export function authenticate(
  auth: ClientAuth,
  table: RoutingTable,
  headers: IncomingHttpHeaders,
): CompiledKey | KeyProblem | undefined {
  return checkClientKey(table.keys, auth.required, headers.authorization, Date.now());
}

/** Whether {@link authenticate} refused the request. */
export function isKeyProblem(result: CompiledKey | KeyProblem | undefined): result is KeyProblem {
  return typeof result === "string";
}

/**
 * Admits one model request of `key`: null when the key has no counted limit, its KeyUse when
 * admitted (call `finish(tokens)` when the request ends), or the 429 answer.
 */
export function admitKeyRequest(auth: ClientAuth, key: CompiledKey): KeyUse | LimitRefusal | null {
  if (!key.counted) return null;
  const limiter = auth.limiter;
  const use = limiter.useOf(key.id);
  const why = limiter.admit(use, key.limits);
  return why === Admission.Admitted ? use : limitRefusal(limiter, use, key.limits, why);
}

/** Whether {@link admitKeyRequest} admitted the request. */
export function isAdmitted(result: KeyUse | LimitRefusal | null): result is KeyUse {
  return result instanceof KeyUse;
}

/** The x-ratelimit-* headers of an answer to `key` now (undefined when it has no per-minute limit). */
export function keyAnswerHeaders(auth: ClientAuth, key: CompiledKey | undefined): OutgoingHttpHeaders | undefined {
  if (key === undefined || !key.counted) return undefined;
  return rateLimitHeaders(auth.limiter, auth.limiter.useOf(key.id), key.limits) ?? undefined;
}

/**
 * How long a request refused by `refusal`, having waited `waited` times already, waits for the
 * next lease before it is admitted again (counted in `refusal.use.waiting`: call
 * {@link leaseWaitOver} when it is over), or -1 when it is refused now.
 */
export function leaseWait(refusal: LimitRefusal, waited: number): number {
  if (refusal.why !== Admission.Lease || waited >= LEASE_WAITS || refusal.use.waiting >= MAX_WAITING) return -1;
  refusal.use.waiting++;
  return refusal.retryMs;
}

/** A wait of {@link leaseWait} is over. */
export function leaseWaitOver(refusal: LimitRefusal): void {
  refusal.use.waiting--;
}
