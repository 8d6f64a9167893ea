/**
 * Finds the route a client's `model` names. Exact match first; like Ollama, a name without a tag
 * also matches `name:latest`, and `name:latest` matches a route named `name`.
 */
import type { CompiledRoute } from "../snapshot/compiled-route.ts";
import type { RoutingTable } from "../snapshot/routing-table.ts";

/** The route for `model`, or undefined when none matches. */
export function resolveRoute(table: RoutingTable, model: string): CompiledRoute | undefined {
  const exact = table.routes.get(model);
  if (exact) return exact;
  if (model.endsWith(":latest")) return table.routes.get(model.slice(0, -7));
  // A tag is a ':' after the last '/' (a host:port prefix is not a tag).
  const slash = model.lastIndexOf("/");
  if (model.indexOf(":", slash + 1) === -1) return table.routes.get(`${model}:latest`);
  return undefined;
}
