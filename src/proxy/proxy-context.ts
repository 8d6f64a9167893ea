/** What the dialect handlers need from the running proxy. */
import type { KeyObject } from "node:crypto";
import type { Logger } from "../log.ts";
import type { ClientAuth } from "./auth/client-auth.ts";
import type { FeedbackListener } from "./feedback/accept-feedback.ts";
import type { FeedbackReplays } from "./feedback/feedback-replays.ts";
import type { OutcomeListener } from "./outcome.ts";
import type { SeriesInFlight } from "./report/series-in-flight.ts";
import type { RoutingTable } from "./snapshot/routing-table.ts";

/** Shared by every handler of one proxy. */
export interface ProxyContext {
  /** The table a new request starts on; undefined before the first snapshot. */
  current(): RoutingTable | undefined;
  /** Receives each request's outcome. */
  onOutcome: OutcomeListener | undefined;
  /** Receives accepted feedback (POST /v1/feedback, ChatService.Feedback). Default: none. */
  onFeedback?: FeedbackListener;
  /** The fleet's accepted (ref, metric) keys: feedback is accepted once per ref and metric. */
  feedbackReplays: FeedbackReplays;
  /** Per-(route, variant) in-flight counts, for the status reports. Default: none. */
  seriesInFlight?: SeriesInFlight;
  logger: Logger;
  /** Signs the `x-turnout-ref` of answers in an experiment. */
  refKey: KeyObject;
  /** Client keys: whether they are required, and the limits of those that have some. */
  clientAuth: ClientAuth;
}
