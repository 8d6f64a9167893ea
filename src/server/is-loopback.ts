/**
 * Whether a bind address only accepts connections from this machine: `localhost`, 127.0.0.0/8
 * (also IPv4-mapped, `::ffff:127.x.y.z`) and `::1`. Anything else — `0.0.0.0`, `::`, an interface
 * address, a host name — counts as reachable from other machines.
 */
import { isIPv4 } from "node:net";

/** True when `host` is a loopback bind address (see the module doc). */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIPv4(v4) && v4.startsWith("127.");
}
