/**
 * Secure by default on the traffic port: a listener reachable from other machines (any address
 * but loopback) refuses to start while client keys are not required, unless anonymous traffic is
 * allowed explicitly; on loopback, anonymous traffic (the demo) is fine and one log line says so.
 */
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { isLoopbackHost } from "../../server/is-loopback-host.ts";

/** The traffic port's client-key options (`startProxy`'s `clientAuth`). */
export interface ClientAuthOptions {
  /**
   * Every model request (native chat, generate, embed, embeddings, show; /v1 chat, completions,
   * embeddings; ChatService.Chat), model listing and feedback needs a client key (`ROLE_CLIENT`)
   * as `Authorization: Bearer <key>`; without one the answer is the dialect's 401. Default false:
   * anonymous requests pass (a Turnout key that is sent is still checked, and its scope and
   * limits apply).
   */
  requireClientKeys?: boolean;
  /** Lets a traffic listener on a non-loopback address run with client keys not required. Default false. */
  allowAnonymousTraffic?: boolean;
}

/**
 * Why a traffic listener on `host` with `options` may not start, or undefined when it may: off
 * loopback it needs required client keys or an explicit allowance of anonymous traffic.
 */
export function trafficExposureProblem(host: string, options: ClientAuthOptions): string | undefined {
  if (options.requireClientKeys === true || options.allowAnonymousTraffic === true || isLoopbackHost(host)) return undefined;
  return `the traffic port binds ${host}, which is not loopback, without client keys: set --require-client-keys (auth.require_client_keys), or --allow-anonymous-traffic (auth.allow_anonymous_traffic) to serve anyone who reaches it`;
}

/**
 * Refuses (throws `failed_precondition`) a traffic listener on non-loopback `host` without required
 * client keys or an explicit allowance of anonymous traffic; logs the one line that says traffic
 * is anonymous otherwise.
 */
export function checkTrafficExposure(host: string, options: ClientAuthOptions, logger: Logger): void {
  if (options.requireClientKeys === true) return;
  if (isLoopbackHost(host)) {
    logger.info({ host }, "traffic port on loopback without client keys: every request is anonymous");
    return;
  }
  const problem = trafficExposureProblem(host, options);
  if (problem !== undefined) throw new TurnoutError(ErrorCode.FailedPrecondition, problem);
  logger.warn({ host }, "traffic port reachable from other machines without client keys (anonymous traffic allowed)");
}
