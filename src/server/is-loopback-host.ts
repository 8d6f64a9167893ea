/**
 * Whether a bind address reaches this machine only: `localhost`, an IPv4 address in 127.0.0.0/8
 * (also IPv4-mapped, `::ffff:127.0.0.1`) or `::1` (bracketed or not). Anything else — `0.0.0.0`,
 * `::`, an empty host, another address, or a host name other than localhost (it may resolve
 * anywhere) — may be reachable from other machines. Pure.
 */
import { isIPv4 } from "node:net";

/** True when `host` is a loopback bind address (see the module comment). */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIPv4(v4) && v4.startsWith("127.");
}
