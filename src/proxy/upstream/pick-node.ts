/**
 * Node choice: the least expected wait — requests in flight on the node fleet-wide (this proxy's
 * plus the other proxies' reports) times the node's observed seconds per request, so a slow
 * node's queue counts for more than a fast one's — over every candidate of a small variant, by
 * power of two choices on a large one; skipping nodes at
 * their max concurrency and a node already tried for this request, and avoiding nodes cooling
 * down after a refusal or a 503 while any other node can take the request.
 */
import type { CompiledNode } from "../snapshot/routing-table.ts";

/** Why no node was picked. */
export const NoNode = {
  /** The variant has no nodes (or only the excluded one). */
  None: 1,
  /** Every candidate is at max concurrency. */
  Full: 2,
} as const;
export type NoNode = (typeof NoNode)[keyof typeof NoNode];

function hasRoom(n: CompiledNode): boolean {
  return n.maxConcurrent === 0 || n.upstream.inFlight < n.maxConcurrent;
}

/**
 * Expected wait in seconds: (fleet-wide in flight + this request) × the node's seconds per request
 * (the proxy's typical value until the node has one, 1 before any), pushed behind every other
 * node while the node cools down.
 */
function load(n: CompiledNode, now: number): number {
  const u = n.upstream;
  const wait = (u.inFlight + u.fleetInFlight + 1) * (u.secondsPerRequest || u.typical.secondsPerRequest || 1);
  return u.coolUntil > now ? wait + 1e9 : wait;
}

/**
 * Up to this many candidates every one is compared (the least expected wait wins; a scan of a
 * few numbers); beyond, power of two choices keeps a pick O(1) on large variants.
 */
export const COMPARE_ALL_UP_TO = 8;

/** Power of two choices: the less loaded of two random distinct candidates with room, or undefined when neither is a good pick. */
function pickOfTwo(nodes: readonly CompiledNode[], exclude: CompiledNode | undefined, now: number): CompiledNode | undefined {
  const count = nodes.length;
  const i = (Math.random() * count) | 0;
  let j = (Math.random() * (count - 1)) | 0;
  if (j >= i) j++;
  const a = nodes[i];
  const b = nodes[j];
  const aOk = a !== exclude && hasRoom(a);
  const bOk = b !== exclude && hasRoom(b);
  if (aOk && bOk) {
    const la = load(a, now);
    const lb = load(b, now);
    if (la < 1e9 || lb < 1e9) return la <= lb ? a : b;
    return undefined; // Both cooling: the scan looks for a node that is not.
  }
  if (aOk && load(a, now) < 1e9) return a;
  if (bOk && load(b, now) < 1e9) return b;
  return undefined;
}

/** Picks a node from `nodes`, never `exclude`; answers a NoNode code when none can take the request. */
export function pickNode(nodes: readonly CompiledNode[], exclude?: CompiledNode): CompiledNode | NoNode {
  const count = nodes.length;
  if (count === 1) {
    const only = nodes[0];
    if (only === exclude) return NoNode.None;
    return hasRoom(only) ? only : NoNode.Full;
  }
  if (count === 0) return NoNode.None;
  const now = performance.now();
  if (count > COMPARE_ALL_UP_TO) {
    const picked = pickOfTwo(nodes, exclude, now);
    if (picked !== undefined) return picked;
  }
  // The least loaded node with room, cooling ones last; from a random start, so ties spread.
  let best: CompiledNode | undefined;
  let bestLoad = 0;
  let sawCandidate = false;
  const first = (Math.random() * count) | 0;
  for (let k = 0; k < count; k++) {
    const n = nodes[(first + k) % count];
    if (n === exclude) continue;
    sawCandidate = true;
    if (!hasRoom(n)) continue;
    const l = load(n, now);
    if (best === undefined || l < bestLoad) {
      best = n;
      bestLoad = l;
    }
  }
  if (best) return best;
  return sawCandidate ? NoNode.Full : NoNode.None;
}
