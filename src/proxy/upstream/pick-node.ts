/**
 * Node choice: the least expected wait — requests in flight on the node fleet-wide (this proxy's
 * plus the other proxies' FleetLoad reports) times the node's observed seconds per request, so a
 * slow node's queue counts for more than a fast one's — over every candidate of a small variant,
 * by power of two choices on a large one; skipping nodes at their max concurrency and a node
 * already tried for this request.
 *
 * A node where the variant's model is not resident (per its last /api/ps probe; unknown residency
 * counts as resident) counts as COLD_PENALTY more requests in flight: a resident node is preferred
 * until it is that much busier, so a cold node still gets warmed when the warm ones queue up.
 * Then two tiers, worse first avoided: nodes cooling down after a refusal or a 503, and nodes out
 * of rotation (ejected or failing their health checks). Out-of-rotation nodes are only chosen when
 * no other node can take the request: ejection is a preference, not a refusal — a variant whose
 * every node is out still gets its requests tried (Envoy's "panic" mode) rather than a certain
 * 503, and a node that came back answers them.
 */
import type { CompiledNode } from "../snapshot/compiled-route.ts";

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
/** Penalties (in seconds of expected wait) that order the tiers; real waits stay far below them. */
const COOLING = 1e9;
const OUT_OF_ROTATION = 1e12;

/**
 * Up to this many candidates every one is compared (the least expected wait wins; a scan of a
 * few numbers); beyond, power of two choices keeps a pick O(1) on large variants.
 */
export const COMPARE_ALL_UP_TO = 8;

function hasRoom(n: CompiledNode): boolean {
  return n.maxConcurrent === 0 || n.upstream.inFlight < n.maxConcurrent;
}

/** The model is known not to be resident on the node. */
function cold(n: CompiledNode, model: string): boolean {
  const resident = n.upstream.health.resident;
  return resident !== null && !resident.has(model);
}

/**
 * Expected wait in seconds: (fleet-wide in flight + this request, + COLD_PENALTY when the model is
 * not resident) × the node's seconds per request (the proxy's typical value until the node has
 * one, 1 before any), plus the tier penalties of a cooling or out-of-rotation node. Field reads
 * and one set lookup.
 */
function load(n: CompiledNode, now: number, model: string): number {
  const u = n.upstream;
  let queue = u.inFlight + u.fleetInFlight + 1;
  if (cold(n, model)) queue += COLD_PENALTY;
  let wait = queue * (u.secondsPerRequest || u.typical.secondsPerRequest || 1);
  if (u.coolUntil > now) wait += COOLING;
  if (!u.health.available) wait += OUT_OF_ROTATION;
  return wait;
}

/** Power of two choices: the less loaded of two random distinct candidates with room, or undefined when neither is in the first tier. */
function pickOfTwo(
  nodes: readonly CompiledNode[],
  model: string,
  exclude: CompiledNode | undefined,
  now: number,
): CompiledNode | undefined {
  const count = nodes.length;
  const i = (Math.random() * count) | 0;
  let j = (Math.random() * (count - 1)) | 0;
  if (j >= i) j++;
  const a = nodes[i];
  const b = nodes[j];
  const la = a !== exclude && hasRoom(a) ? load(a, now, model) : Infinity;
  const lb = b !== exclude && hasRoom(b) ? load(b, now, model) : Infinity;
  const best = la <= lb ? a : b;
  // Cooling, out of rotation or cold: a better node may be elsewhere; the scan looks.
  if (Math.min(la, lb) >= COOLING || cold(best, model)) return undefined;
  return best;
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
  const now = performance.now();
  if (count > COMPARE_ALL_UP_TO) {
    const picked = pickOfTwo(nodes, model, exclude, now);
    if (picked !== undefined) return picked;
  }
  // The least loaded node with room, worse tiers last; from a random start, so ties spread.
  let best: CompiledNode | undefined;
  let bestLoad = 0;
  let sawCandidate = false;
  const first = (Math.random() * count) | 0;
  for (let k = 0; k < count; k++) {
    const n = nodes[(first + k) % count];
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
