/**
 * Node choice: power of two choices on this proxy's in-flight count per node, skipping nodes at
 * their max concurrency and a node already tried for this request. Preference tiers, best first:
 * nodes in rotation with the variant's model resident (per their last /api/ps probe; unknown
 * residency counts as resident), nodes in rotation without it, nodes cooling down after a refusal
 * or a 503, and last nodes out of rotation (ejected or failing their health checks). Out-of-rotation
 * nodes are only chosen when no other node can take the request: ejection is a preference, not a
 * refusal — a variant whose every node is out still gets its requests tried (Envoy's "panic" mode)
 * rather than a certain 503, and a node that came back answers them.
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

/** Penalties that order the tiers; in-flight counts stay far below them. */
const NOT_RESIDENT = 1e6;
const COOLING = 1e9;
const OUT_OF_ROTATION = 1e12;

function hasRoom(n: CompiledNode): boolean {
  return n.maxConcurrent === 0 || n.upstream.inFlight < n.maxConcurrent;
}

/** In-flight count plus the penalty of the node's tier (field reads and one set lookup). */
function load(n: CompiledNode, now: number, model: string): number {
  const u = n.upstream;
  const h = u.health;
  let score = u.inFlight;
  if (!h.available) score += OUT_OF_ROTATION;
  if (u.coolUntil > now) score += COOLING;
  if (h.resident !== null && !h.resident.has(model)) score += NOT_RESIDENT;
  return score;
}

/**
 * Picks a node from `nodes` for `model` (the variant's upstream tag), never `exclude`; answers a
 * NoNode code when none can take the request.
 */
export function pickNode(nodes: readonly CompiledNode[], model: string, exclude?: CompiledNode): CompiledNode | NoNode {
  const count = nodes.length;
  if (count === 1) {
    const only = nodes[0];
    if (only === exclude) return NoNode.None;
    return hasRoom(only) ? only : NoNode.Full;
  }
  if (count === 0) return NoNode.None;
  // Two random distinct candidates; keep the less loaded one with room when it is in the best tier.
  const i = (Math.random() * count) | 0;
  let j = (Math.random() * (count - 1)) | 0;
  if (j >= i) j++;
  const a = nodes[i];
  const b = nodes[j];
  const aOk = a !== exclude && hasRoom(a);
  const bOk = b !== exclude && hasRoom(b);
  const now = performance.now();
  if (aOk && bOk) {
    const la = load(a, now, model);
    const lb = load(b, now, model);
    if (la < NOT_RESIDENT || lb < NOT_RESIDENT) return la <= lb ? a : b;
  } else if (aOk && load(a, now, model) < NOT_RESIDENT) return a;
  else if (bOk && load(b, now, model) < NOT_RESIDENT) return b;
  // Neither is in the best tier: scan for the least loaded node with room in the best tier there is.
  let best: CompiledNode | undefined;
  let bestLoad = 0;
  let sawCandidate = false;
  for (const n of nodes) {
    if (n === exclude) continue;
    sawCandidate = true;
    if (!hasRoom(n)) continue;
    const l = load(n, now, model);
    if (best === undefined || l < bestLoad) {
      best = n;
      bestLoad = l;
    }
  }
  if (best) return best;
  return sawCandidate ? NoNode.Full : NoNode.None;
}
