/**
 * Whether a bind address is loopback only: what decides if a listener may run without
 * credentials. Loopback is `localhost`, any 127.0.0.0/8 address, `::1`, and 127.x.x.x written as
 * an IPv4-mapped IPv6 address. Everything else — `0.0.0.0`, `::`, a LAN address, a host name —
 * may be reachable from other machines.
 */
import { isIPv4, isIPv6 } from "node:net";

/** True when binding `host` accepts connections from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost") return true;
  if (isIPv4(h)) return h.startsWith("127.");
  if (!isIPv6(h)) return false;
  if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const mapped = /^(?:0:0:0:0:0|):ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h.replace(/^::/, ":"));
  return mapped !== null && mapped[1]!.startsWith("127.");
}
