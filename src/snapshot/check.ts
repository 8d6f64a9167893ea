/**
 * The consistency check of a RoutingSnapshot (go-control-plane's `Consistent()`): the control
 * plane runs it before it publishes a snapshot, the proxy before it applies one. Pure; answers
 * every problem as "path: message" with proto field names (`routes[0].arms[1].weight: ...`).
 */
import { BUCKETS } from "../assign/hash.ts";
import type { Node, Route, RoutingSnapshot, Settings } from "../../gen/turnout/v1/routing_pb.js";
import { checkExperiments } from "./check-experiments.ts";
import { snapshotContentHash } from "./content-hash.ts";

/** Why `url` is not a usable node base URL, or undefined when it is. */
export function baseUrlProblem(url: string): string | undefined {
  if (url === "") return "must not be empty";
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not a valid URL`;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return `${JSON.stringify(url)} must use http or https`;
  if (parsed.search !== "" || parsed.hash !== "") return `${JSON.stringify(url)} must not have a query or fragment`;
  if (parsed.username !== "" || parsed.password !== "") return `${JSON.stringify(url)} must not carry credentials`;
  return undefined;
}

/** Shortest active health check interval, ms. */
export const MIN_HEALTH_INTERVAL_MS = 50;
const MAX_COUNT = 1000;

/**
 * Problems with the resilience settings (health_check, outlier_detection, queue) as
 * `{ field, message }` with proto field names under `settings.`; 0 means "the default" everywhere.
 */
export function resilienceProblems(s: Settings, path = "settings"): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  const h = s.healthCheck;
  if (h !== undefined) {
    const hp = `${path}.health_check`;
    if (h.intervalMs !== 0 && h.intervalMs < MIN_HEALTH_INTERVAL_MS) out.push({ field: `${hp}.interval_ms`, message: `must be at least ${MIN_HEALTH_INTERVAL_MS} ms, got ${h.intervalMs}` });
    if (h.intervalMs !== 0 && h.timeoutMs > h.intervalMs) out.push({ field: `${hp}.timeout_ms`, message: `must not exceed the interval (${h.timeoutMs} > ${h.intervalMs})` });
    if (h.healthyThreshold > MAX_COUNT) out.push({ field: `${hp}.healthy_threshold`, message: `must be at most ${MAX_COUNT}, got ${h.healthyThreshold}` });
    if (h.unhealthyThreshold > MAX_COUNT) out.push({ field: `${hp}.unhealthy_threshold`, message: `must be at most ${MAX_COUNT}, got ${h.unhealthyThreshold}` });
  }
  const o = s.outlierDetection;
  if (o !== undefined) {
    const op = `${path}.outlier_detection`;
    if (o.consecutiveFailures > MAX_COUNT) out.push({ field: `${op}.consecutive_failures`, message: `must be at most ${MAX_COUNT}, got ${o.consecutiveFailures}` });
    if (o.baseEjectionMs !== 0 && o.maxEjectionMs !== 0 && o.maxEjectionMs < o.baseEjectionMs) {
      out.push({ field: `${op}.max_ejection_ms`, message: `must not be less than base_ejection_ms (${o.maxEjectionMs} < ${o.baseEjectionMs})` });
    }
  }
  const q = s.queue;
  if (q !== undefined && q.maxLength > 1_000_000) out.push({ field: `${path}.queue.max_length`, message: `must be at most 1000000, got ${q.maxLength}` });
  return out;
}

function checkNodes(nodes: readonly Node[], problems: string[]): void {
  const seen = new Map<string, number>();
  nodes.forEach((node, i) => {
    const path = `nodes[${i}]`;
    if (node.id === "") problems.push(`${path}.id: must not be empty`);
    else if (seen.has(node.id)) problems.push(`${path}.id: duplicate node id ${JSON.stringify(node.id)} (also nodes[${seen.get(node.id)}])`);
    else seen.set(node.id, i);
    const urlProblem = baseUrlProblem(node.baseUrl);
    if (urlProblem) problems.push(`${path}.base_url: ${urlProblem}`);
  });
}

function servesModel(node: Node, model: string): boolean {
  return node.models.length === 0 || node.models.includes(model);
}

function checkVariants(route: Route, path: string, nodes: ReadonlyMap<string, Node>, problems: string[]): Set<string> {
  const names = new Set<string>();
  if (route.variants.length === 0) problems.push(`${path}.variants: must have at least one variant`);
  route.variants.forEach((variant, j) => {
    const vpath = `${path}.variants[${j}]`;
    if (variant.name === "") problems.push(`${vpath}.name: must not be empty`);
    else if (names.has(variant.name)) problems.push(`${vpath}.name: duplicate variant name ${JSON.stringify(variant.name)}`);
    names.add(variant.name);
    if (variant.model === "") problems.push(`${vpath}.model: must not be empty`);
    variant.nodes.forEach((id, k) => {
      const node = nodes.get(id);
      if (node === undefined) problems.push(`${vpath}.nodes[${k}]: node ${JSON.stringify(id)} does not exist`);
      else if (variant.model !== "" && !servesModel(node, variant.model)) {
        problems.push(`${vpath}.nodes[${k}]: node ${JSON.stringify(id)} does not serve model ${JSON.stringify(variant.model)}`);
      }
    });
    if (variant.nodes.length === 0 && variant.model !== "" && ![...nodes.values()].some((n) => servesModel(n, variant.model))) {
      problems.push(`${vpath}.nodes: no node serves model ${JSON.stringify(variant.model)}`);
    }
  });
  return names;
}

function checkArms(route: Route, path: string, variants: ReadonlySet<string>, problems: string[]): void {
  if (route.arms.length === 0) return;
  const owner = new Int32Array(BUCKETS).fill(-1);
  const armVariants = new Set<string>();
  let total = 0;
  route.arms.forEach((arm, a) => {
    const apath = `${path}.arms[${a}]`;
    if (!variants.has(arm.variant)) problems.push(`${apath}.variant: variant ${JSON.stringify(arm.variant)} does not exist in the route`);
    else if (armVariants.has(arm.variant)) problems.push(`${apath}.variant: duplicate arm for variant ${JSON.stringify(arm.variant)}`);
    armVariants.add(arm.variant);
    if (arm.weight > 100) problems.push(`${apath}.weight: must be between 0 and 100, got ${arm.weight}`);
    total += arm.weight;
    let owned = 0;
    let previousEnd = -1;
    arm.ranges.forEach((range, r) => {
      const rpath = `${apath}.ranges[${r}]`;
      if (range.start >= range.end || range.end > BUCKETS) {
        problems.push(`${rpath}: [${range.start}, ${range.end}) must satisfy start < end <= ${BUCKETS}`);
        return;
      }
      if (range.start < previousEnd) problems.push(`${rpath}: ranges must be sorted and disjoint ([${range.start}, ${range.end}) starts before ${previousEnd})`);
      previousEnd = range.end;
      for (let b = range.start; b < range.end; b++) {
        if (owner[b] >= 0 && owner[b] !== a) {
          problems.push(`${rpath}: bucket ${b} is also owned by ${path}.arms[${owner[b]}]`);
          break;
        }
        owner[b] = a;
      }
      owned += range.end - range.start;
    });
    if (arm.weight <= 100 && owned !== arm.weight * (BUCKETS / 100)) {
      problems.push(`${apath}.ranges: own ${owned} buckets but weight ${arm.weight}% needs ${arm.weight * (BUCKETS / 100)}`);
    }
  });
  if (total !== 100) problems.push(`${path}.arms: weights must sum to 100, got ${total}`);
  const free = owner.indexOf(-1);
  if (free >= 0) problems.push(`${path}.arms: bucket ${free} is owned by no arm (arms must cover 0..${BUCKETS - 1})`);
}

function checkRoutes(routes: readonly Route[], nodes: ReadonlyMap<string, Node>, problems: string[]): void {
  const seen = new Map<string, number>();
  routes.forEach((route, i) => {
    const path = `routes[${i}]`;
    if (route.name === "") problems.push(`${path}.name: must not be empty`);
    else if (seen.has(route.name)) problems.push(`${path}.name: duplicate route name ${JSON.stringify(route.name)} (also routes[${seen.get(route.name)}])`);
    else seen.set(route.name, i);
    const variants = checkVariants(route, path, nodes, problems);
    if (route.defaultVariant === "") problems.push(`${path}.default_variant: must name a variant`);
    else if (!variants.has(route.defaultVariant)) {
      problems.push(`${path}.default_variant: variant ${JSON.stringify(route.defaultVariant)} does not exist in the route`);
    }
    checkArms(route, path, variants, problems);
  });
}

/**
 * Every inconsistency of `snapshot` as "path: message"; empty when it is consistent. Checks unique
 * node ids, route names and variant names; that every reference resolves (default_variant,
 * arm.variant, variant.nodes, and that some node serves each variant's model); that arms' ranges
 * are sorted, disjoint, within 0..10000 and cover 0..9999 exactly, matching weights 0..100 that
 * sum to 100; running experiments (`check-experiments.ts`); valid base URLs; version ordering;
 * and that content_hash matches the content.
 */
export function checkSnapshot(snapshot: RoutingSnapshot): string[] {
  const problems: string[] = [];
  if (snapshot.version < 1n) problems.push("version: must be at least 1");
  else if (snapshot.parentVersion >= snapshot.version) {
    problems.push(`parent_version: must be less than version (${snapshot.parentVersion} >= ${snapshot.version})`);
  }
  checkNodes(snapshot.nodes, problems);
  const nodes = new Map(snapshot.nodes.map((n) => [n.id, n]));
  checkRoutes(snapshot.routes, nodes, problems);
  checkExperiments(snapshot.experiments, snapshot.routes, problems);
  const s = snapshot.settings;
  if (s !== undefined && s.unitHeader !== "" && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s.unitHeader)) {
    problems.push(`settings.unit_header: ${JSON.stringify(s.unitHeader)} is not a valid header name`);
  }
  if (s !== undefined) for (const p of resilienceProblems(s)) problems.push(`${p.field}: ${p.message}`);
  const hash = snapshotContentHash(snapshot);
  if (snapshot.contentHash !== hash) problems.push(`content_hash: ${JSON.stringify(snapshot.contentHash)} does not match the content (${hash})`);
  return problems;
}
