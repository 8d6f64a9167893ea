/**
 * Secure by default, checked before a command starts anything: on loopback Turnout may run
 * without credentials (the demo); a listener reachable from other machines needs them. An admin
 * listener off loopback needs an admin token; a traffic listener off loopback needs client keys
 * or an explicit `--allow-anonymous-traffic`; and `turnout up`, which is both halves in one
 * process, needs an admin token as soon as either of its listeners is off loopback.
 */
import { ErrorCode, TurnoutError } from "../errors.ts";
import { adminExposureProblem } from "../control/auth/admin-exposure.ts";
import { trafficExposureProblem } from "../proxy/auth/traffic-exposure.ts";
import { isLoopbackHost } from "../server/is-loopback-host.ts";

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
 * machines without the credentials it needs, each with the setting that fixes it. The admin and
 * traffic rules are the servers' own (`adminExposureProblem`, `trafficExposureProblem`), checked
 * here before anything starts; a command checks the admin port by its token alone (stored admin
 * keys cannot be known before the store is open).
 */
export function checkExposure(e: Exposure): void {
  const problems: string[] = [];
  const admin = e.admin && !e.adminToken ? adminExposureProblem(e.admin.host) : undefined;
  if (admin !== undefined) problems.push(admin);
  else if (e.whole && e.traffic !== undefined && !e.adminToken && !isLoopbackHost(e.traffic.host))
    problems.push(`turnout up binds traffic to ${e.traffic.host}, which is not loopback, with no admin token: ${TOKEN}`);
  const traffic = e.traffic && trafficExposureProblem(e.traffic.host, e.traffic);
  if (traffic !== undefined) problems.push(traffic);
  if (problems.length > 0) throw new TurnoutError(ErrorCode.FailedPrecondition, `refusing to start: ${problems.join("; ")}`);
}
