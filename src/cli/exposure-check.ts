/**
 * Secure by default, checked before a command starts anything: on loopback Turnout may run
 * without credentials (the demo); a listener reachable from other machines needs them. An admin
 * listener off loopback needs an admin token; a traffic listener off loopback needs client keys
 * or an explicit `--allow-anonymous-traffic`; and `turnout up`, which is both halves in one
 * process, needs an admin token as soon as either of its listeners is off loopback.
 */
import { ErrorCode, TurnoutError } from "../errors.ts";
import { isLoopback } from "../server/is-loopback.ts";

/** What {@link checkExposure} looks at. */
export interface Exposure {
  /** The traffic listener, when the command has one. */
  traffic?: { host: string; requireClientKeys: boolean; allowAnonymousTraffic: boolean };
  /** The admin listener, when the command has one. */
  admin?: { host: string };
  /** Whether a bootstrap admin token is configured. */
  adminToken: boolean;
  /** The command runs both halves in one process (`turnout up`). Default false. */
  whole?: boolean;
}

const TOKEN = "set TURNOUT_ADMIN_TOKEN (or auth.admin_token_file)";

/**
 * Throws `failed_precondition` listing, in one line, every listener that is reachable from other
 * machines without the credentials it needs, each with the setting that fixes it.
 */
export function checkExposure(e: Exposure): void {
  const problems: string[] = [];
  const admin = e.admin && !isLoopback(e.admin.host) ? e.admin.host : undefined;
  const traffic = e.traffic && !isLoopback(e.traffic.host) ? e.traffic : undefined;
  if (admin !== undefined && !e.adminToken)
    problems.push(
      `the admin port binds ${admin}, which is not loopback, with no admin token: ${TOKEN}, or bind it to 127.0.0.1 (--admin-host)`,
    );
  else if (e.whole && traffic !== undefined && !e.adminToken)
    problems.push(`turnout up binds traffic to ${traffic.host}, which is not loopback, with no admin token: ${TOKEN}`);
  if (traffic !== undefined && !traffic.requireClientKeys && !traffic.allowAnonymousTraffic)
    problems.push(
      `the traffic port binds ${traffic.host}, which is not loopback, without client keys: set --require-client-keys (auth.require_client_keys), or --allow-anonymous-traffic (auth.allow_anonymous_traffic) to serve anyone who reaches it`,
    );
  if (problems.length > 0) throw new TurnoutError(ErrorCode.FailedPrecondition, `refusing to start: ${problems.join("; ")}`);
}
