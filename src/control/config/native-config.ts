/**
 * The native config format (see docs/configuration.md, "The native format"): `listen`, `settings`, `nodes`,
 * `routes` (`alerts` and `auth` are read in parse-config.ts, for both shapes). Reads the YAML tree into a DesiredState in file order, recording structural problems
 * with their config paths; semantic validation runs afterwards on the result.
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  ArmSchema,
  NodeSchema,
  RouteSchema,
  SettingsSchema,
  VariantSchema,
  type Node,
  type Route,
} from "../../../gen/turnout/v1/routing_pb.js";
import type { DesiredState } from "../state/desired-state.ts";
import type { AlertsConfig } from "./alerts-config.ts";
import type { AuthConfig } from "./auth-config.ts";
import {
  type Problems,
  at,
  readBool,
  readDuration,
  readInt,
  readList,
  readMap,
  readString,
  readStrings,
} from "./config-reader.ts";
import { readHealthCheck, readOutlierDetection, readSlotQueue } from "./resilience-config.ts";
import { type ListenConfig, readListenConfig } from "./listen-config.ts";

/** What a config file yields. */
export interface ConfigFile {
  /** Desired state to bootstrap the store with. */
  state: DesiredState;
  /** Where to listen ("host:port" or a bare port) and with which TLS files, when the file says. */
  listen?: ListenConfig;
  /** The `alerts:` block: process configuration, applied at every start (never stored). */
  alerts?: AlertsConfig;
  /** The `auth:` block: process configuration, applied at every start (never stored). */
  auth?: AuthConfig;
}

function readNode(value: unknown, path: string, p: Problems): Node {
  const m = readMap(value, path, p, ["id", "url", "max_concurrent", "models", "labels"]) ?? {};
  const labels: Record<string, string> = {};
  for (const [key, v] of Object.entries(readMap(m.labels, at(path, "labels"), p) ?? {})) {
    const s = readString(v, at(at(path, "labels"), key), p);
    if (s !== undefined) labels[key] = s;
  }
  return create(NodeSchema, {
    id: readString(m.id, at(path, "id"), p) ?? "",
    baseUrl: readString(m.url, at(path, "url"), p) ?? "",
    maxConcurrent: readInt(m.max_concurrent, at(path, "max_concurrent"), p, 0, 0xffff_ffff) ?? 0,
    models: readStrings(m.models, at(path, "models"), p),
    labels,
  });
}

function readRoute(value: unknown, path: string, p: Problems): Route {
  const m = readMap(value, path, p, ["name", "default", "variants", "split", "seed"]) ?? {};
  const variants = (readList(m.variants, at(path, "variants"), p) ?? []).map((v, j) => {
    const vpath = at(at(path, "variants"), j);
    const vm = readMap(v, vpath, p, ["name", "model", "nodes", "options", "keep_alive", "unload_when_idle"]) ?? {};
    return create(VariantSchema, {
      name: readString(vm.name, at(vpath, "name"), p) ?? "",
      model: readString(vm.model, at(vpath, "model"), p) ?? "",
      nodes: readStrings(vm.nodes, at(vpath, "nodes"), p),
      options: readMap(vm.options, at(vpath, "options"), p) as JsonObject | undefined,
      keepAlive: readString(vm.keep_alive, at(vpath, "keep_alive"), p) ?? "",
      unloadWhenIdle: readBool(vm.unload_when_idle, at(vpath, "unload_when_idle"), p) ?? false,
    });
  });
  const split = readMap(m.split, at(path, "split"), p) ?? {};
  const arms = Object.entries(split).map(([variant, weight]) =>
    create(ArmSchema, { variant, weight: readInt(weight, at(at(path, "split"), variant), p, 0, 100) ?? 0 }),
  );
  return create(RouteSchema, {
    name: readString(m.name, at(path, "name"), p) ?? "",
    defaultVariant: readString(m.default, at(path, "default"), p) ?? "",
    variants,
    arms,
    seed: readString(m.seed, at(path, "seed"), p) ?? "",
  });
}

/** Reads a native config tree; problems go to `p`. */
export function readNativeConfig(root: unknown, p: Problems): ConfigFile {
  const top = readMap(root, "", p, ["listen", "settings", "nodes", "routes", "alerts", "auth"]) ?? {};
  const settingsMap = readMap(top.settings, "settings", p, [
    "unit_header",
    "connect_timeout",
    "first_byte_timeout",
    "idle_timeout",
    "total_timeout",
    "health_check",
    "outlier_detection",
    "queue",
    "client_keep_alive",
    "feedback_ref_ttl",
  ]);
  const settings =
    settingsMap === undefined
      ? undefined
      : create(SettingsSchema, {
          unitHeader: readString(settingsMap.unit_header, "settings.unit_header", p) ?? "",
          connectTimeoutMs: readDuration(settingsMap.connect_timeout, "settings.connect_timeout", p) ?? 0,
          firstByteTimeoutMs: readDuration(settingsMap.first_byte_timeout, "settings.first_byte_timeout", p) ?? 0,
          idleTimeoutMs: readDuration(settingsMap.idle_timeout, "settings.idle_timeout", p) ?? 0,
          totalTimeoutMs: readDuration(settingsMap.total_timeout, "settings.total_timeout", p) ?? 0,
          healthCheck: readHealthCheck(settingsMap.health_check, "settings.health_check", p),
          outlierDetection: readOutlierDetection(settingsMap.outlier_detection, "settings.outlier_detection", p),
          queue: readSlotQueue(settingsMap.queue, "settings.queue", p),
          clientKeepAlive: readString(settingsMap.client_keep_alive, "settings.client_keep_alive", p) ?? "",
          feedbackRefTtlMs: readDuration(settingsMap.feedback_ref_ttl, "settings.feedback_ref_ttl", p) ?? 0,
        });
  const nodes = (readList(top.nodes, "nodes", p) ?? []).map((n, i) => readNode(n, at("nodes", i), p));
  const routes = (readList(top.routes, "routes", p) ?? []).map((r, i) => readRoute(r, at("routes", i), p));
  return { state: { nodes, routes, settings }, listen: readListenConfig(top.listen, p) };
}

/**
 * The config path of a field reported on the native state (proto names → config names):
 * `.base_url` → `.url`, `.default_variant` → `.default`, `.arms[i]…` → `.split.<variant>`,
 * `settings.…_ms` → the duration key without `_ms`.
 */
export function nativeConfigPath(field: string, state: DesiredState): string {
  return field
    .replace(/^(nodes\[\d+\])\.base_url/, "$1.url")
    .replace(/^(routes\[\d+\])\.default_variant/, "$1.default")
    .replace(/^routes\[(\d+)\]\.arms\[(\d+)\](?:\.(?:weight|variant|ranges))?/, (_m, r: string, a: string) => {
      const variant = state.routes[Number(r)]?.arms[Number(a)]?.variant ?? a;
      return `routes[${r}].split.${variant}`;
    })
    .replace(/^(routes\[\d+\])\.arms/, "$1.split")
    .replace(/^(settings\.(?:(?:health_check|outlier_detection|queue)\.)?\w+?)_ms$/, "$1");
}
