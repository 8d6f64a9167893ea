/**
 * The outcome record each proxied request yields: who was served by what, how it ended and how
 * fast. The proxy hands each to an optional callback; its outcome batcher publishes them in batches.
 */

/** How a request ended, as a short stable label. */
export const OutcomeStatus = {
  /** The upstream answered 2xx and the answer reached the client whole. */
  Ok: "ok",
  /** The upstream answered with an HTTP error status before the first byte. */
  UpstreamStatus: "upstream_status",
  /** The upstream failed after the answer started (error line, reset, idle timeout). */
  UpstreamFailed: "upstream_failed",
  /** No node could take the request (none serves the model, all full, all refused). */
  Unavailable: "unavailable",
  /** The client went away before the answer finished. */
  ClientGone: "client_gone",
} as const;
export type OutcomeStatus = (typeof OutcomeStatus)[keyof typeof OutcomeStatus];

/** One request's outcome. Never holds prompts or completions. */
export interface Outcome {
  /** The request id (also in the `x-request-id` header). */
  requestId: string;
  /** Snapshot version the request was pinned to. */
  snapshotVersion: number;
  /** Route name the client asked for. */
  route: string;
  /** Variant that served it. */
  variant: string;
  /** Experiment arm (the arm's variant) when the request had a unit and the route a split; "" otherwise. */
  arm: string;
  /** Hex FNV-1a hash of the assignment unit, "" when there was none. */
  unitHash: string;
  /** Assignment bucket of the unit (0..9999), -1 when there was no unit or no split. */
  bucket?: number;
  /** Index of the arm in the route's split, -1 when the default variant served it unassigned. */
  armIndex?: number;
  /** Experiment the request was counted in; "" when in none (then arm/armIndex are the route split's). */
  experiment?: string;
  /** Phase of that experiment. */
  experimentPhase?: number;
  /** Node id that served the last attempt, "" when none was tried. */
  node: string;
  /** How it ended. */
  status: OutcomeStatus;
  /** HTTP status sent to the client (0 when the client left before any). */
  httpStatus: number;
  /** Milliseconds from the request's arrival to the end of the answer. */
  latencyMs: number;
  /** Milliseconds from the request's arrival to the first byte of the upstream answer; -1 if none. */
  ttftMs: number;
  /** Prompt tokens evaluated, when the upstream said. */
  promptTokens: number;
  /** Tokens generated, when the upstream said. */
  completionTokens: number;
  /** Generation speed in tokens/s as measured by the upstream (0 when unknown). */
  tokensPerSecond: number;
}

/** Receives outcomes; must not throw and should return quickly. */
export type OutcomeListener = (outcome: Outcome) => void;
