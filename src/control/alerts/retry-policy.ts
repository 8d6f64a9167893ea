/**
 * When a webhook delivery is tried again, and after how long: pure functions of the attempt's
 * result, so the policy is tested without a network.
 *
 * - Retried: network errors (refused, reset, DNS, timeouts), 5xx, 408 and 429. Other statuses
 *   (4xx: a wrong URL, a revoked Slack webhook's 403/404, a malformed body's 400) will not get
 *   better and give up at once; 3xx are not followed and give up too.
 * - Wait before attempt n+1: exponential backoff with "equal jitter",
 *   `min(maxMs, baseMs · 2^(n-1)) · (0.5 + random/2)`, so retries of many alerts spread out;
 *   a `Retry-After` (seconds or an HTTP date) on a 429/503 is honoured when it asks for longer,
 *   up to `maxRetryAfterMs`.
 */

/** Backoff settings. */
export interface BackoffOptions {
  /** Wait after the first failed attempt, before jitter, in ms. Default 500. */
  baseMs?: number;
  /** Longest wait from backoff alone, in ms. Default 30000. */
  maxMs?: number;
  /** Longest `Retry-After` honoured, in ms (longer asks wait this long). Default 300000. */
  maxRetryAfterMs?: number;
  /** Uniform random in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** True when an answer with HTTP `status` is worth another attempt. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** True for 2xx, the only answers that count as delivered. */
export function deliveredStatus(status: number): boolean {
  return status >= 200 && status < 300;
}

/**
 * Milliseconds a `Retry-After` header asks to wait (delay-seconds or an HTTP date, RFC 9110
 * §10.2.3), or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** Wait in ms before attempt `attempt + 1`, after `attempt` (≥ 1) failed; see the module comment. */
export function retryDelayMs(attempt: number, retryAfterMs: number | undefined, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const random = options.random ?? Math.random;
  const backoff = Math.min(max, base * 2 ** Math.max(0, attempt - 1)) * (0.5 + random() / 2);
  if (retryAfterMs === undefined) return Math.round(backoff);
  return Math.round(Math.max(backoff, Math.min(retryAfterMs, options.maxRetryAfterMs ?? 300_000)));
}
