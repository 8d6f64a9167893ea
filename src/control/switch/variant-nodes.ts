/**
 * Which nodes serve a variant, resolved exactly as the proxy's routing table does (the variant's
 * `nodes`, else every node that lists the model or lists no models), and which (node, model)
 * pairs are still in use by a serving variant, so a switch never unloads a model someone else
 * still routes to.
 */
import type { Node, Route, Variant } from "../../../gen/turnout/v1/routing_pb.js";

/** A node a warm or unload request goes to. */
export interface TargetNode {
  /** Node id. */
  id: string;
  /** Base URL of its Ollama API. */
  baseUrl: string;
}

/** The nodes serving `variant`, in the order the snapshot lists them. */
export function variantNodes(nodes: readonly Node[], variant: Variant): TargetNode[] {
  const chosen =
    variant.nodes.length > 0
      ? variant.nodes.map((id) => nodes.find((n) => n.id === id)).filter((n): n is Node => n !== undefined)
      : nodes.filter((n) => n.models.length === 0 || n.models.includes(variant.model));
  return chosen.map((n) => ({ id: n.id, baseUrl: n.baseUrl }));
}

/**
 * Whether `variant` of `route` receives traffic: it is the default (which also serves requests
 * without an assignment unit when there is a split) or an arm of the split owns buckets.
 */
export function isServing(route: Route, variant: string): boolean {
  if (route.defaultVariant === variant) return true;
  return route.arms.some((a) => a.variant === variant && a.ranges.some((r) => r.end > r.start));
}

/**
 * Ids of the nodes on which `model` is used by a serving variant other than (`route`,
 * `variant`) — the nodes where unloading it would hurt someone.
 */
export function nodesStillUsing(
  routes: readonly Route[],
  nodes: readonly Node[],
  model: string,
  except: { route: string; variant: string },
): Set<string> {
  const used = new Set<string>();
  for (const r of routes) {
    for (const v of r.variants) {
      if (v.model !== model || (r.name === except.route && v.name === except.variant)) continue;
      if (!isServing(r, v.name)) continue;
      for (const n of variantNodes(nodes, v)) used.add(n.id);
    }
  }
  return used;
}
