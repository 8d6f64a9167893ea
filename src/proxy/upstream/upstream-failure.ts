/**
 * How an exchange reads an upstream failure: which socket errors are retried on another node
 * (nothing has reached the client yet), which count as connection-level for the node's health
 * (what an active probe can observe too, see NodeHealth), and what the client is told — the
 * status and message before an answer started, the in-band error after — with the outcome each
 * records. Pure.
 */
import { OutcomeStatus } from "../outcome.ts";

/** Failures before the first byte that are retried on another node (nothing reached the client). */
export const RETRYABLE: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
/** Whether `code` is a connection-level failure, what an active probe can observe too (see NodeHealth): the retryable ones. */
export function isConnectionFailure(code: string): boolean {
  return RETRYABLE.has(code);
}
/** What the client is told when the request's total timeout passes. */
export const TOTAL_TIMEOUT = "request exceeded the total timeout";
/** Ollama's own busy message (two spaces). */
export const BUSY = "server busy, please try again.  maximum pending requests exceeded";
/** The in-band error of a stream whose upstream ended without its last line. */
export const CUT_SHORT = "upstream closed the stream before it finished";

/** The in-band error of a stream whose upstream request failed with `code` / `message` mid-answer. */
export function midAnswerError(code: string, message: string): string {
  return code === "UND_ERR_BODY_TIMEOUT"
    ? "upstream stalled: no data within the idle timeout"
    : `upstream failed mid-answer: ${message}`;
}

/** The status and message of an upstream request that failed with `code` / `message` before its answer. */
export function beforeAnswerFailure(code: string, message: string): { status: number; message: string } {
  if (code === "UND_ERR_HEADERS_TIMEOUT")
    return { status: 504, message: "upstream did not answer within the first-byte timeout" };
  return { status: 502, message: `upstream unavailable: ${message || code}` };
}

/** The outcome of a request answered `status` by the proxy itself before any upstream answer. */
export function refusedOutcome(status: number, clientGone: boolean): OutcomeStatus {
  if (clientGone) return OutcomeStatus.ClientGone;
  return status === 503 || status === 502 ? OutcomeStatus.Unavailable : OutcomeStatus.UpstreamStatus;
}
