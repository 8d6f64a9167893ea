/**
 * The answers' view of a key's limits, in OpenAI's header names: `x-ratelimit-limit-requests`,
 * `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` for requests per minute and the
 * `-tokens` set for tokens per minute (each set only when that limit is set), on every answer to
 * a limited key; and for a refused request the 429's message, `Retry-After` (whole seconds) and
 * `retry-after-ms` (which the `openai` SDK waits for before it retries). Remaining counts are
 * fleet-wide (this proxy's window plus the others' reports); a reset is the time until the oldest
 * request (or tokens) this proxy counted leaves the window, as OpenAI writes durations (`20ms`,
 * `1.5s`, `6m0s`).
 */
import type { OutgoingHttpHeaders } from "node:http";
import type { CompiledLimits } from "./compiled-key.ts";
import { Admission, type KeyLimiter, type KeyUse } from "./key-limiter.ts";

/** A duration as OpenAI's rate-limit headers write it. */
export function formatReset(ms: number): string {
  const whole = Math.ceil(ms);
  if (whole < 1000) return `${whole}ms`;
  const minutes = Math.floor(whole / 60_000);
  const seconds = (whole - minutes * 60_000) / 1000;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/** The x-ratelimit-* headers for key use `use` under `limits`, or null when neither per-minute limit is set. */
export function rateLimitHeaders(limiter: KeyLimiter, use: KeyUse, limits: CompiledLimits): OutgoingHttpHeaders | null {
  const rpm = limits.requestsPerMinute;
  const tpm = limits.tokensPerMinute;
  if (rpm === 0 && tpm === 0) return null;
  const now = limiter.now();
  const headers: OutgoingHttpHeaders = {};
  if (rpm > 0) {
    const w = use.requests;
    w.advance(now);
    headers["x-ratelimit-limit-requests"] = rpm;
    headers["x-ratelimit-remaining-requests"] = Math.max(0, rpm - w.total - use.othersRequests);
    headers["x-ratelimit-reset-requests"] = formatReset(w.msUntilOldestLeaves(now));
  }
  if (tpm > 0) {
    const w = use.tokens;
    w.advance(now);
    headers["x-ratelimit-limit-tokens"] = tpm;
    headers["x-ratelimit-remaining-tokens"] = Math.max(0, Math.floor(tpm - w.total - use.othersTokens));
    headers["x-ratelimit-reset-tokens"] = formatReset(w.msUntilOldestLeaves(now));
  }
  return headers;
}

/** A refused request's answer: what the client is told, the OpenAI error type, and the headers. */
export interface LimitRefusal {
  readonly message: string;
  /** OpenAI's error `type` for it ("requests" or "tokens"). */
  readonly type: string;
  readonly headers: OutgoingHttpHeaders;
  /** Which limit refused it. */
  readonly why: Admission;
  /** The key's counters. */
  readonly use: KeyUse;
  /** Ms until it may be admitted. */
  readonly retryMs: number;
}

/** The 429 answer for a request of `use` that `limiter` refused for `why`. */
export function limitRefusal(limiter: KeyLimiter, use: KeyUse, limits: CompiledLimits, why: Admission): LimitRefusal {
  const retryMs = limiter.retryAfterMs(use, why);
  const headers = rateLimitHeaders(limiter, use, limits) ?? {};
  headers["retry-after"] = String(Math.ceil(retryMs / 1000));
  headers["retry-after-ms"] = String(retryMs);
  const retry = formatReset(retryMs);
  const base = { headers, why, use, retryMs };
  switch (why) {
    case Admission.Tokens:
      return {
        ...base,
        message: `rate limit reached for tokens per minute (limit ${limits.tokensPerMinute}); retry in ${retry}`,
        type: "tokens",
      };
    case Admission.Concurrency:
      return {
        ...base,
        message: `too many requests in flight for this API key (limit ${limits.maxConcurrent}); retry in ${retry}`,
        type: "requests",
      };
    case Admission.Lease:
      return {
        ...base,
        message: `rate limit for requests per minute (limit ${limits.requestsPerMinute}): this proxy's share is used until its next usage report; retry in ${retry}`,
        type: "requests",
      };
    default:
      return {
        ...base,
        message: `rate limit reached for requests per minute (limit ${limits.requestsPerMinute}); retry in ${retry}`,
        type: "requests",
      };
  }
}
