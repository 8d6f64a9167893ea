/**
 * Node choice: power of two choices on the fleet-wide in-flight count per node (this proxy's own
 * plus the other proxies' FleetLoad reports), skipping nodes at
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

/** Fleet-wide in-flight count, pushed behind every other node while the node cools down. */
function load(n: CompiledNode, now: number): number {
  const u = n.upstream;
  const inFlight = u.inFlight + u.fleetInFlight;
  return u.coolUntil > now ? inFlight + 1e9 : inFlight;
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
  // Two random distinct candidates; keep the less loaded one with room.
  const i = (Math.random() * count) | 0;
  let j = (Math.random() * (count - 1)) | 0;
  if (j >= i) j++;
  const a = nodes[i];
  const b = nodes[j];
  const aOk = a !== exclude && hasRoom(a);
  const bOk = b !== exclude && hasRoom(b);
  const now = performance.now();
  if (aOk && bOk) {
    const la = load(a, now);
    const lb = load(b, now);
    if (la < 1e9 || lb < 1e9) return la <= lb ? a : b;
    // Both cooling: fall through to the scan for a node that is not.
  } else if (aOk && load(a, now) < 1e9) return a;
  else if (bOk && load(b, now) < 1e9) return b;
  // Neither is a good pick: scan for the least loaded node with room, cooling ones last.
  let best: CompiledNode | undefined;
  let sawCandidate = false;
  for (const n of nodes) {
    if (n === exclude) continue;
    sawCandidate = true;
    if (hasRoom(n) && (best === undefined || load(n, now) < load(best, now))) best = n;
  }
  if (best) return best;
  return sawCandidate ? NoNode.Full : NoNode.None;
}
