/**
 * The input of a compile golden case (`test/testdata/compile/<case>.in.json`), decoded: the stored
 * desired state in protobuf JSON (nodes, routes, settings, experiments as stored `Experiment`
 * records of every status), the snapshot published before (absent for the first) and the clock.
 *
 * ```json
 * { "description": "…", "now": "2026-03-01T12:00:00Z", "previous": { "version": "6" },
 *   "state": { "nodes": […], "routes": […], "settings": {…}, "experiments": […] } }
 * ```
 * Unknown keys are errors (a typo must not silently drop part of a case).
 */
import * as fs from "node:fs";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ExperimentSchema, type Experiment } from "../../gen/turnout/v1/experiment_pb.js";
import {
  NodeSchema,
  RouteSchema,
  RoutingSnapshotSchema,
  SettingsSchema,
  type Node,
  type Route,
  type RoutingSnapshot,
  type Settings,
} from "../../gen/turnout/v1/routing_pb.js";

/** Everything one compile needs, as messages. */
export interface CompileInput {
  nodes: Node[];
  routes: Route[];
  settings: Settings | undefined;
  /** Stored experiments, every status (compile keeps the running ones). */
  experiments: Experiment[];
  /** The snapshot published before; undefined for the first. */
  previous: RoutingSnapshot | undefined;
  /** The clock: the snapshot's created_at. */
  now: Date;
}

const CASE_KEYS = ["description", "now", "previous", "state"];
const STATE_KEYS = ["nodes", "routes", "settings", "experiments"];

function object(value: unknown, where: string, keys: readonly string[]): Record<string, JsonValue> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error(`${where}: must be an object`);
  for (const key of Object.keys(value))
    if (!keys.includes(key)) throw new Error(`${where}: unknown key ${JSON.stringify(key)} (known: ${keys.join(", ")})`);
  return value as Record<string, JsonValue>;
}

function list(value: JsonValue | undefined, where: string): JsonValue[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error(`${where}: must be an array`);
  return value;
}

/** Decodes a parsed compile case; `where` (the file) prefixes every error. */
export function compileInputOf(json: unknown, where: string): CompileInput {
  const c = object(json, where, CASE_KEYS);
  const state = object(c.state ?? {}, `${where}: state`, STATE_KEYS);
  const now = new Date(typeof c.now === "string" ? c.now : NaN);
  if (Number.isNaN(now.getTime())) throw new Error(`${where}: now must be an RFC 3339 time, got ${JSON.stringify(c.now)}`);
  return {
    nodes: list(state.nodes, `${where}: state.nodes`).map((n) => fromJson(NodeSchema, n)),
    routes: list(state.routes, `${where}: state.routes`).map((r) => fromJson(RouteSchema, r)),
    settings: state.settings === undefined ? undefined : fromJson(SettingsSchema, state.settings),
    experiments: list(state.experiments, `${where}: state.experiments`).map((e) => fromJson(ExperimentSchema, e)),
    previous: c.previous === undefined ? undefined : fromJson(RoutingSnapshotSchema, c.previous),
    now,
  };
}

/** Reads and decodes the compile case at `file`. */
export function readCompileInput(file: string | URL): CompileInput {
  return compileInputOf(JSON.parse(fs.readFileSync(file, "utf8")), String(file));
}
