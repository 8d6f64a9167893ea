/**
 * The consistency check of a RoutingSnapshot (go-control-plane's `Consistent()`): the control
 * plane runs it before it publishes a snapshot, the proxy before it applies one. Pure; answers
 * every problem as a FieldViolation with a proto field path (`routes[0].arms[1].weight`).
 */
import { BUCKETS } from "../assign/hash.ts";
import type { Node, Route, RoutingSnapshot } from "../../gen/turnout/v1/routing_pb.js";
import type { FieldViolation } from "../errors.ts";
import { checkExperiments, checkFeedbackExperiments } from "./check-experiments.ts";
import { checkKeys } from "./check-keys.ts";
import { baseUrlProblem, uniqueKeys, variantsProblem, weightsSumProblem } from "./check-rules.ts";
import { checkSettings } from "./check-settings.ts";
import { snapshotContentHash } from "./content-hash.ts";

function checkNodes(nodes: readonly Node[], out: FieldViolation[]): void {
  const duplicate = uniqueKeys("node id", "nodes");
  nodes.forEach((node, i) => {
    const path = `nodes[${i}]`;
    const idProblem = node.id === "" ? "must not be empty" : duplicate(node.id, i);
    if (idProblem) out.push({ field: `${path}.id`, message: idProblem });
    const urlProblem = baseUrlProblem(node.baseUrl);
    if (urlProblem) out.push({ field: `${path}.base_url`, message: urlProblem });
  });
}

function servesModel(node: Node, model: string): boolean {
  return node.models.length === 0 || node.models.includes(model);
}

function checkVariants(route: Route, path: string, nodes: ReadonlyMap<string, Node>, out: FieldViolation[]): Set<string> {
  const names = new Set<string>();
  const duplicate = uniqueKeys("variant name");
  const noVariants = variantsProblem(route.variants.length);
  if (noVariants) out.push({ field: `${path}.variants`, message: noVariants });
  route.variants.forEach((variant, j) => {
    const vpath = `${path}.variants[${j}]`;
    const nameProblem = variant.name === "" ? "must not be empty" : duplicate(variant.name, j);
    if (nameProblem) out.push({ field: `${vpath}.name`, message: nameProblem });
    names.add(variant.name);
    if (variant.model === "") out.push({ field: `${vpath}.model`, message: "must not be empty" });
    variant.nodes.forEach((id, k) => {
      const node = nodes.get(id);
      if (node === undefined) out.push({ field: `${vpath}.nodes[${k}]`, message: `node ${JSON.stringify(id)} does not exist` });
      else if (variant.model !== "" && !servesModel(node, variant.model)) {
        out.push({
          field: `${vpath}.nodes[${k}]`,
          message: `node ${JSON.stringify(id)} does not serve model ${JSON.stringify(variant.model)}`,
        });
      }
    });
    if (variant.nodes.length === 0 && variant.model !== "" && ![...nodes.values()].some((n) => servesModel(n, variant.model))) {
      out.push({ field: `${vpath}.nodes`, message: `no node serves model ${JSON.stringify(variant.model)}` });
    }
  });
  return names;
}

function checkArms(route: Route, path: string, variants: ReadonlySet<string>, out: FieldViolation[]): void {
  if (route.arms.length === 0) return;
  const owner = new Int32Array(BUCKETS).fill(-1);
  const armVariants = new Set<string>();
  let total = 0;
  route.arms.forEach((arm, a) => {
    const apath = `${path}.arms[${a}]`;
    if (!variants.has(arm.variant))
      out.push({ field: `${apath}.variant`, message: `variant ${JSON.stringify(arm.variant)} does not exist in the route` });
    else if (armVariants.has(arm.variant))
      out.push({ field: `${apath}.variant`, message: `duplicate arm for variant ${JSON.stringify(arm.variant)}` });
    armVariants.add(arm.variant);
    if (arm.weight > 100) out.push({ field: `${apath}.weight`, message: `must be between 0 and 100, got ${arm.weight}` });
    total += arm.weight;
    let owned = 0;
    let previousEnd = -1;
    arm.ranges.forEach((range, r) => {
      const rpath = `${apath}.ranges[${r}]`;
      if (range.start >= range.end || range.end > BUCKETS) {
        out.push({ field: rpath, message: `[${range.start}, ${range.end}) must satisfy start < end <= ${BUCKETS}` });
        return;
      }
      if (range.start < previousEnd)
        out.push({
          field: rpath,
          message: `ranges must be sorted and disjoint ([${range.start}, ${range.end}) starts before ${previousEnd})`,
        });
      previousEnd = range.end;
      for (let b = range.start; b < range.end; b++) {
        if (owner[b] >= 0 && owner[b] !== a) {
          out.push({ field: rpath, message: `bucket ${b} is also owned by ${path}.arms[${owner[b]}]` });
          break;
        }
        owner[b] = a;
      }
      owned += range.end - range.start;
    });
    if (arm.weight <= 100 && owned !== arm.weight * (BUCKETS / 100)) {
      out.push({
        field: `${apath}.ranges`,
        message: `own ${owned} buckets but weight ${arm.weight}% needs ${arm.weight * (BUCKETS / 100)}`,
      });
    }
  });
  const sumProblem = weightsSumProblem(total);
  if (sumProblem) out.push({ field: `${path}.arms`, message: sumProblem });
  const free = owner.indexOf(-1);
  if (free >= 0)
    out.push({ field: `${path}.arms`, message: `bucket ${free} is owned by no arm (arms must cover 0..${BUCKETS - 1})` });
}

function checkRoutes(routes: readonly Route[], nodes: ReadonlyMap<string, Node>, out: FieldViolation[]): void {
  const duplicate = uniqueKeys("route name", "routes");
  routes.forEach((route, i) => {
    const path = `routes[${i}]`;
    const nameProblem = route.name === "" ? "must not be empty" : duplicate(route.name, i);
    if (nameProblem) out.push({ field: `${path}.name`, message: nameProblem });
    const variants = checkVariants(route, path, nodes, out);
    if (route.defaultVariant === "") out.push({ field: `${path}.default_variant`, message: "must name a variant" });
    else if (!variants.has(route.defaultVariant)) {
      out.push({
        field: `${path}.default_variant`,
        message: `variant ${JSON.stringify(route.defaultVariant)} does not exist in the route`,
      });
    }
    checkArms(route, path, variants, out);
  });
}

/**
 * Every inconsistency of `snapshot`; empty when it is consistent. Checks unique node ids, route
 * names and variant names; that every reference resolves (default_variant, arm.variant,
 * variant.nodes, and that some node serves each variant's model); that arms' ranges are sorted,
 * disjoint, within 0..10000 and cover 0..9999 exactly, matching weights 0..100 that sum to 100;
 * running experiments and those kept for feedback (`check-experiments.ts`); API keys (`check-keys.ts`); the settings
 * (`check-settings.ts`); valid base URLs; version ordering; and that content_hash matches the
 * content.
 */
export function checkSnapshot(snapshot: RoutingSnapshot): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (snapshot.version < 1n) out.push({ field: "version", message: "must be at least 1" });
  else if (snapshot.parentVersion >= snapshot.version) {
    out.push({
      field: "parent_version",
      message: `must be less than version (${snapshot.parentVersion} >= ${snapshot.version})`,
    });
  }
  checkNodes(snapshot.nodes, out);
  const nodes = new Map(snapshot.nodes.map((n) => [n.id, n]));
  checkRoutes(snapshot.routes, nodes, out);
  checkExperiments(snapshot.experiments, snapshot.routes, out);
  checkFeedbackExperiments(snapshot.feedbackExperiments, snapshot.experiments, out);
  checkKeys(snapshot.keys, out);
  if (snapshot.settings !== undefined) out.push(...checkSettings(snapshot.settings));
  const hash = snapshotContentHash(snapshot);
  if (snapshot.contentHash !== hash)
    out.push({ field: "content_hash", message: `${JSON.stringify(snapshot.contentHash)} does not match the content (${hash})` });
  return out;
}
