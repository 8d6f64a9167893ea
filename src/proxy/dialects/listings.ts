/**
 * Model listings in Ollama's shapes, listing route names (what clients may ask for): `/api/tags`,
 * `/v1/models` (and `/v1/models/{id}`), and `/api/ps` (routes whose model is resident on one of
 * their nodes, from the nodes' own `/api/ps`). A client key scoped to some routes sees only
 * those. Bodies are cached per table (and per scoped key of the table).
 */
import { createHash } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { CompiledKey } from "../auth/compiled-key.ts";
import type { CompiledRoute } from "../snapshot/compiled-route.ts";
import type { RoutingTable } from "../snapshot/routing-table.ts";

const tagsCache = new WeakMap<RoutingTable | CompiledKey, string>();
const modelsCache = new WeakMap<RoutingTable | CompiledKey, string>();

/** The table's routes within `scope` (null: every route). */
function visibleRoutes(table: RoutingTable, scope: ReadonlySet<string> | null): CompiledRoute[] {
  const routes = [...table.routes.values()];
  return scope === null ? routes : routes.filter((r) => scope.has(r.name));
}

/** Where a body for `key` on `table` is cached: the table, or the scoped key (a key belongs to one table). */
function cacheKey(table: RoutingTable, key: CompiledKey | undefined): RoutingTable | CompiledKey {
  return key === undefined || key.routes === null ? table : key;
}

function createdAt(table: RoutingTable): Date {
  return table.snapshot.createdAt ? timestampDate(table.snapshot.createdAt) : new Date(0);
}

function digestOf(name: string): string {
  return createHash("sha256").update(name).digest("hex");
}

/** The `/api/tags` body for a table, as `key` (undefined: anonymous) sees it. */
export function tagsBody(table: RoutingTable, key?: CompiledKey): string {
  const cached = cacheKey(table, key);
  let body = tagsCache.get(cached);
  if (body === undefined) {
    const modified = createdAt(table).toISOString();
    const models = visibleRoutes(table, key?.routes ?? null).map((route) => ({
      name: route.name,
      model: route.name,
      modified_at: modified,
      size: 0,
      digest: digestOf(route.name),
      details: { parent_model: "", format: "gguf", family: "", families: null, parameter_size: "", quantization_level: "" },
    }));
    body = JSON.stringify({ models });
    tagsCache.set(cached, body);
  }
  return body;
}

function modelEntry(name: string, created: number) {
  const slash = name.indexOf("/");
  return { id: name, object: "model", created, owned_by: slash > 0 ? name.slice(0, slash) : "library" };
}

/** The `/v1/models` body for a table, as `key` (undefined: anonymous) sees it. */
export function modelsBody(table: RoutingTable, key?: CompiledKey): string {
  const cached = cacheKey(table, key);
  let body = modelsCache.get(cached);
  if (body === undefined) {
    const created = Math.floor(createdAt(table).getTime() / 1000);
    body = JSON.stringify({
      object: "list",
      data: visibleRoutes(table, key?.routes ?? null).map((route) => modelEntry(route.name, created)),
    });
    modelsCache.set(cached, body);
  }
  return body;
}

/** The `/v1/models/{id}` body, or undefined when no route in `scope` (null: any) has that name. */
export function modelBody(table: RoutingTable, id: string, scope: ReadonlySet<string> | null = null): string | undefined {
  if (!table.routes.has(id) || (scope !== null && !scope.has(id))) return undefined;
  return JSON.stringify(modelEntry(id, Math.floor(createdAt(table).getTime() / 1000)));
}

interface PsEntry {
  name?: string;
  model?: string;
  [key: string]: unknown;
}

/** Asks every node of the table for `/api/ps` (within `timeoutMs`) and lists the resident routes in `scope` (null: all). */
export async function psBody(table: RoutingTable, scope: ReadonlySet<string> | null = null, timeoutMs = 2000): Promise<string> {
  const resident = new Map<string, Map<string, PsEntry>>(); // node id → model tag → entry
  await Promise.all(
    table.nodes.map(async (node) => {
      try {
        const res = await node.upstream.pool.request({
          path: `${node.upstream.prefix}/api/ps`,
          method: "GET",
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        if (res.statusCode !== 200) {
          await res.body.dump();
          return;
        }
        const json = (await res.body.json()) as { models?: PsEntry[] };
        const models = new Map<string, PsEntry>();
        for (const m of json.models ?? []) {
          const tag = m.model ?? m.name;
          if (typeof tag === "string") models.set(tag, m);
        }
        resident.set(node.id, models);
      } catch {
        // An unreachable node has nothing resident as far as clients can tell.
      }
    }),
  );
  const models: PsEntry[] = [];
  for (const route of visibleRoutes(table, scope)) {
    let found: PsEntry | undefined;
    const variants = [route.defaultVariant, ...[...route.variants.values()].filter((v) => v !== route.defaultVariant)];
    for (const v of variants) {
      for (const node of v.nodes) {
        found = resident.get(node.id)?.get(v.model);
        if (found) break;
      }
      if (found) break;
    }
    if (found) models.push({ ...found, name: route.name, model: route.name });
  }
  return JSON.stringify({ models });
}
