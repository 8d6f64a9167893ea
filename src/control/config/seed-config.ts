/**
 * The seed article's config shape, detected by top-level `gateway` or `models`:
 *
 * ```yaml
 * gateway: { port: 8080, timeout: 30s, max_connections: 1000, route: qwen3:32b, host: 0.0.0.0 }
 * models: [ { name: "qwen3:32b", endpoint: "http://gpu-node-1:11434", weight: 70, enabled: true } ]
 * routing: { strategy: weighted, ab_testing: { enabled: true, models: [ { name, weight } ] } }
 * health_check: { interval: 30s, timeout: 5s }
 * ```
 *
 * Mapping: every enabled model becomes a node (id from the model name, base URL = endpoint,
 * models = [name]) and a variant of ONE route (variant name from the model name, model = name,
 * nodes = [that node]). The route is `gateway.route`, else the first enabled model's name, so
 * clients keep sending the model name they sent before; its default variant is the first enabled
 * model. The split comes from `routing.ab_testing.models` when ab_testing is enabled, else from
 * `models[].weight` when the strategy is `weighted`, else the first model takes all; weights are
 * normalised to percent summing to 100 by largest remainder. `gateway.port` (and `host`) → the
 * traffic listen address; `gateway.timeout` → first_byte_timeout; `gateway.max_connections` →
 * each node's max_concurrent = ceil(max_connections / nodes), since Turnout caps concurrency per
 * upstream node rather than per gateway. `health_check` → settings.health_check: `interval` and
 * `timeout` of the proxies' active probes (GET /api/ps); the native block's other keys
 * (`healthy_threshold`, `unhealthy_threshold`, `enabled`) are accepted too.
 */
import { create } from "@bufbuild/protobuf";
import { ArmSchema, NodeSchema, RouteSchema, SettingsSchema, VariantSchema } from "../../../gen/turnout/v1/routing_pb.js";
import { baseUrlProblem } from "../../snapshot/check-rules.ts";
import { type Problems, at, readBool, readDuration, readInt, readList, readMap, readString } from "./config-reader.ts";
import { readHealthCheck } from "./resilience-config.ts";
import type { ConfigFile } from "./native-config.ts";

interface SeedModel {
  name: string;
  endpoint: string;
  weight?: number;
  enabled: boolean;
  index: number;
}

/** A name usable as node id / variant name: anything outside [A-Za-z0-9._-] becomes '-'. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "-");
}

/** Whole percents proportional to `weights`, summing to 100 (largest remainder, ties to earlier). */
export function toPercent(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w * 100) / total);
  const out = exact.map(Math.floor);
  let left = 100 - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, rem: x - Math.floor(x) })).sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (const { i } of order) {
    if (left-- <= 0) break;
    out[i]++;
  }
  return out;
}

/** True when a config tree has the seed article's shape. */
export function isSeedConfig(root: unknown): boolean {
  return typeof root === "object" && root !== null && !Array.isArray(root) && ("gateway" in root || "models" in root);
}

/** Reads a seed-article config tree; problems go to `p`. */
export function readSeedConfig(root: unknown, p: Problems): ConfigFile {
  const top = readMap(root, "", p, ["gateway", "models", "routing", "health_check", "alerts"]) ?? {};
  const gateway = readMap(top.gateway, "gateway", p, ["port", "host", "timeout", "max_connections", "route"]) ?? {};
  const port = readInt(gateway.port, "gateway.port", p, 0, 65535);
  const host = readString(gateway.host, "gateway.host", p);
  const timeout = readDuration(gateway.timeout, "gateway.timeout", p);
  const maxConnections = readInt(gateway.max_connections, "gateway.max_connections", p, 0, 0xffff_ffff);
  const healthCheck = readHealthCheck(top.health_check, "health_check", p);

  const models: SeedModel[] = [];
  const list = readList(top.models, "models", p) ?? [];
  if (list.length === 0 && !p.broken.has("models")) p.add("models", "must list at least one model");
  list.forEach((value, i) => {
    const path = at("models", i);
    const m = readMap(value, path, p, ["name", "endpoint", "weight", "enabled"]) ?? {};
    const name = readString(m.name, at(path, "name"), p) ?? "";
    const endpoint = readString(m.endpoint, at(path, "endpoint"), p) ?? "";
    if (name.trim() === "") p.add(at(path, "name"), "must not be empty");
    else if (models.some((o) => o.name === name)) p.add(at(path, "name"), `duplicate model ${JSON.stringify(name)}`);
    const urlProblem = baseUrlProblem(endpoint);
    if (urlProblem) p.add(at(path, "endpoint"), urlProblem);
    const weight = readInt(m.weight, at(path, "weight"), p, 0, 1_000_000);
    models.push({
      name,
      endpoint: endpoint.replace(/\/+$/, ""),
      weight,
      enabled: readBool(m.enabled, at(path, "enabled"), p) ?? true,
      index: i,
    });
  });
  const enabled = models.filter((m) => m.enabled);
  if (list.length > 0 && enabled.length === 0) p.add("models", "at least one model must be enabled");

  const routing = readMap(top.routing, "routing", p, ["strategy", "ab_testing"]) ?? {};
  const strategy = readString(routing.strategy, "routing.strategy", p) ?? "weighted";
  if (!["weighted", "single"].includes(strategy))
    p.add("routing.strategy", `${JSON.stringify(strategy)} is not supported (use weighted or single)`);
  const ab = readMap(routing.ab_testing, "routing.ab_testing", p, ["enabled", "models"]) ?? {};
  const abEnabled = readBool(ab.enabled, "routing.ab_testing.enabled", p) ?? false;

  // The split, as (model, weight) pairs, before normalising to percent.
  let split: { model: SeedModel; weight: number; path: string }[] = [];
  const problemsBefore = p.list.length;
  if (abEnabled) {
    const abModels = readList(ab.models, "routing.ab_testing.models", p) ?? [];
    if (abModels.length === 0) p.add("routing.ab_testing.models", "must list the models to test when ab_testing is enabled");
    abModels.forEach((value, i) => {
      const path = at("routing.ab_testing.models", i);
      const m = readMap(value, path, p, ["name", "weight"]) ?? {};
      const name = readString(m.name, at(path, "name"), p) ?? "";
      const weight = readInt(m.weight, at(path, "weight"), p, 0, 1_000_000);
      if (weight === undefined && !p.covers(at(path, "weight"))) p.add(at(path, "weight"), "is required");
      const model = models.find((o) => o.name === name);
      if (model === undefined) p.add(at(path, "name"), `${JSON.stringify(name)} is not defined in models[]`);
      else if (!model.enabled) p.add(at(path, "name"), `${JSON.stringify(name)} is disabled in models[${model.index}]`);
      else if (split.some((s) => s.model === model)) p.add(at(path, "name"), `${JSON.stringify(name)} is listed twice`);
      else split.push({ model, weight: weight ?? 0, path });
    });
  } else if (strategy === "weighted" && enabled.length > 1) {
    for (const model of enabled) {
      if (model.weight === undefined && !p.covers(at(at("models", model.index), "weight")))
        p.add(at(at("models", model.index), "weight"), "is required when routing.strategy is weighted");
      split.push({ model, weight: model.weight ?? 0, path: at("models", model.index) });
    }
  }
  if (p.list.length === problemsBefore && split.length > 0 && split.reduce((n, s) => n + s.weight, 0) === 0)
    p.add(abEnabled ? "routing.ab_testing.models" : "models", "weights must not all be 0");

  // Nodes and variants: one per enabled model, with unique safe names.
  const ids = new Map<SeedModel, string>();
  for (const model of enabled) {
    let id = safeName(model.name) || "model";
    for (let n = 2; [...ids.values()].includes(id); n++) id = `${safeName(model.name)}-${n}`;
    ids.set(model, id);
  }
  const perNode = maxConnections && enabled.length > 0 ? Math.ceil(maxConnections / enabled.length) : 0;
  const nodes = enabled.map((m) =>
    create(NodeSchema, { id: ids.get(m)!, baseUrl: m.endpoint, models: [m.name], maxConcurrent: perNode }),
  );
  const variants = enabled.map((m) => create(VariantSchema, { name: ids.get(m)!, model: m.name, nodes: [ids.get(m)!] }));
  const routeName = readString(gateway.route, "gateway.route", p) ?? enabled[0]?.name ?? "";
  if (split.length === 1) split = []; // one model takes all: no split needed
  const percents = split.length > 0 && split.some((s) => s.weight > 0) ? toPercent(split.map((s) => s.weight)) : [];
  const route = create(RouteSchema, {
    name: routeName,
    defaultVariant: enabled[0] ? ids.get(enabled[0]) : "",
    variants,
    arms: percents.map((weight, i) => create(ArmSchema, { variant: ids.get(split[i].model)!, weight })),
  });
  return {
    state: {
      nodes,
      routes: enabled.length > 0 ? [route] : [],
      settings:
        timeout === undefined && healthCheck === undefined
          ? undefined
          : create(SettingsSchema, { firstByteTimeoutMs: timeout ?? 0, healthCheck }),
    },
    listen: port === undefined ? undefined : { traffic: host ? `${host}:${port}` : String(port) },
  };
}
