/**
 * Node choice: power of two choices on this proxy's in-flight count per node, skipping nodes at
 * their max concurrency and a node already tried for this request. A node where the variant's
 * model is not resident (per its last /api/ps probe; unknown residency counts as resident) counts
 * as COLD_PENALTY more requests in flight: a resident node is preferred until it is that much
 * busier, so a cold node still gets warmed when the warm ones queue up. Then two tiers, worse
 * first avoided: nodes cooling down after a refusal or a 503, and nodes out of rotation (ejected
 * or failing their health checks). Out-of-rotation
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

/**
 * In-flight requests a node without the model resident counts as having on top of its own: a cold
 * load takes seconds to tens of seconds, about what a few queued requests cost on a warm node.
 */
export const COLD_PENALTY = 4;
/** Penalties that order the tiers; in-flight counts stay far below them. */
const COOLING = 1e9;
const OUT_OF_ROTATION = 1e12;

function hasRoom(n: CompiledNode): boolean {
  return n.maxConcurrent === 0 || n.upstream.inFlight < n.maxConcurrent;
}

/** The model is known not to be resident on the node. */
function cold(n: CompiledNode, model: string): boolean {
  const resident = n.upstream.health.resident;
  return resident !== null && !resident.has(model);
}

/** In-flight count plus the penalties of the node's state (field reads and one set lookup). */
function load(n: CompiledNode, now: number, model: string): number {
  const u = n.upstream;
  let score = u.inFlight;
  if (!u.health.available) score += OUT_OF_ROTATION;
  if (u.coolUntil > now) score += COOLING;
  if (cold(n, model)) score += COLD_PENALTY;
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
  // Two random distinct candidates; keep the less loaded one with room unless it cools down or is out.
  const i = (Math.random() * count) | 0;
  let j = (Math.random() * (count - 1)) | 0;
  if (j >= i) j++;
  const a = nodes[i];
  const b = nodes[j];
  const aOk = a !== exclude && hasRoom(a);
  const bOk = b !== exclude && hasRoom(b);
  const now = performance.now();
  // The less loaded candidate with room, unless it cools down, is out of rotation or is cold
  // (a warm node elsewhere may be the better pick: scan).
  let pick: CompiledNode | undefined;
  let pickLoad = COOLING;
  if (aOk) {
    pick = a;
    pickLoad = load(a, now, model);
  }
  if (bOk) {
    const lb = load(b, now, model);
    if (pick === undefined || lb < pickLoad) {
      pick = b;
      pickLoad = lb;
    }
  }
  if (pick !== undefined && pickLoad < COLD_PENALTY) return pick;
  if (pick !== undefined && pickLoad < COOLING && !cold(pick, model)) return pick;
  // Neither is a good pick: scan for the least loaded node with room, cooling and out-of-rotation ones last.
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
