/**
 * Secure by default on the admin port: a listener reachable from other machines (any address but
 * loopback) may not run without credentials. The one wording of that refusal, used by the admin
 * server and by the commands that check it before they start anything.
 */
import { isLoopbackHost } from "../../server/is-loopback-host.ts";

/** Why an admin listener on `host` without credentials may not start, or undefined when it may (loopback). */
export function adminExposureProblem(host: string): string | undefined {
  if (isLoopbackHost(host)) return undefined;
  return `the admin port binds ${host}, which is not loopback, with no admin token: set TURNOUT_ADMIN_TOKEN (or auth.admin_token_file) to a token of at least 16 characters, or bind it to 127.0.0.1 (--admin-host)`;
}
