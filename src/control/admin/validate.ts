/**
 * Validation of admin input and config: pure functions that answer every problem with its path
 * (`routes[0].variants[1].model: must not be empty`), using proto field names. Cross-object
 * consistency (references, bucket coverage) is checked on the compiled whole (`checkDesiredState`).
 * The rules this shares with that snapshot check (base URLs, uniqueness, the settings, weights that
 * sum to 100) come from src/snapshot/; the ones here are stricter (names, lengths, durations) or
 * apply before normalisation (a default variant may be left out when there is one variant).
 */
import type { FieldViolation } from "../../errors.ts";
import type { Node, Route, Settings } from "../../../gen/turnout/v1/routing_pb.js";
import { baseUrlProblem, uniqueKeys, variantsProblem, weightsSumProblem } from "../../snapshot/check-rules.ts";
import { checkSettings } from "../../snapshot/check-settings.ts";
import type { DesiredState } from "../state/desired-state.ts";
import { KEEP_ALIVE, parseDuration } from "../../duration.ts";

/** Node ids and variant names: letters, digits, '.', '_' and '-'. */
const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;
/** Longest node id, variant name, route name or seed. */
const MAX_NAME_LENGTH = 200;

function join(path: string, field: string): string {
  return path === "" ? field : `${path}.${field}`;
}

/** Problems with a name that must match NAME_PATTERN. */
function checkName(value: string, field: string, what: string, out: FieldViolation[]): void {
  if (value === "") out.push({ field, message: "must not be empty" });
  else if (value.length > MAX_NAME_LENGTH) out.push({ field, message: `must be at most ${MAX_NAME_LENGTH} characters` });
  else if (!NAME_PATTERN.test(value))
    out.push({ field, message: `${JSON.stringify(value)} is not a valid ${what} (letters, digits, '.', '_' and '-')` });
}

/** Problems with a route name: non-empty, no whitespace, at most 200 characters. */
export function routeNameProblem(name: string): string | undefined {
  if (name === "") return "must not be empty";
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  if (/\s/.test(name)) return `${JSON.stringify(name)} must not contain whitespace`;
  return undefined;
}

/** Every problem with one node; `path` prefixes each field (e.g. "node" or "nodes[0]"). */
export function validateNode(node: Node, path: string): FieldViolation[] {
  const out: FieldViolation[] = [];
  checkName(node.id, join(path, "id"), "node id", out);
  const urlProblem = baseUrlProblem(node.baseUrl);
  if (urlProblem) out.push({ field: join(path, "base_url"), message: urlProblem });
  const models = new Set<string>();
  node.models.forEach((model, i) => {
    const field = join(path, `models[${i}]`);
    if (model === "" || /\s/.test(model)) out.push({ field, message: "must be a model tag without whitespace" });
    else if (models.has(model)) out.push({ field, message: `duplicate model ${JSON.stringify(model)}` });
    models.add(model);
  });
  for (const key of Object.keys(node.labels)) {
    if (key === "") out.push({ field: join(path, "labels"), message: "label keys must not be empty" });
  }
  return out;
}

/** Every problem with one route on its own; `path` prefixes each field (e.g. "route"). */
export function validateRoute(route: Route, path: string): FieldViolation[] {
  const out: FieldViolation[] = [];
  const nameProblem = routeNameProblem(route.name);
  if (nameProblem) out.push({ field: join(path, "name"), message: nameProblem });
  const noVariants = variantsProblem(route.variants.length);
  if (noVariants) out.push({ field: join(path, "variants"), message: noVariants });
  const variants = new Set<string>();
  const duplicateVariant = uniqueKeys("variant name");
  route.variants.forEach((variant, j) => {
    const vpath = join(path, `variants[${j}]`);
    checkName(variant.name, `${vpath}.name`, "variant name", out);
    const duplicate = duplicateVariant(variant.name, j);
    if (duplicate) out.push({ field: `${vpath}.name`, message: duplicate });
    variants.add(variant.name);
    if (variant.model === "") out.push({ field: `${vpath}.model`, message: "must not be empty" });
    else if (/\s/.test(variant.model))
      out.push({ field: `${vpath}.model`, message: `${JSON.stringify(variant.model)} must not contain whitespace` });
    const nodes = new Set<string>();
    variant.nodes.forEach((id, k) => {
      checkName(id, `${vpath}.nodes[${k}]`, "node id", out);
      if (nodes.has(id)) out.push({ field: `${vpath}.nodes[${k}]`, message: `duplicate node ${JSON.stringify(id)}` });
      nodes.add(id);
    });
    const keepAlive = variant.keepAlive === "" ? undefined : parseDuration(variant.keepAlive, KEEP_ALIVE);
    if (keepAlive?.ok === false) out.push({ field: `${vpath}.keep_alive`, message: keepAlive.message });
  });
  if (route.defaultVariant === "") {
    if (route.variants.length > 1)
      out.push({ field: join(path, "default_variant"), message: "must name one of the variants when there are several" });
  } else if (route.variants.length > 0 && !variants.has(route.defaultVariant)) {
    out.push({
      field: join(path, "default_variant"),
      message: `${JSON.stringify(route.defaultVariant)} is not a variant of the route`,
    });
  }
  out.push(...validateWeights(route.arms, join(path, "arms"), variants));
  if (route.seed.length > MAX_NAME_LENGTH)
    out.push({ field: join(path, "seed"), message: `must be at most ${MAX_NAME_LENGTH} characters` });
  return out;
}

/** Problems with a split: known, unique variants, weights 0..100 summing to 100. */
export function validateWeights(
  arms: readonly { variant: string; weight: number }[],
  path: string,
  variants: ReadonlySet<string>,
): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (arms.length === 0) return out;
  const seen = new Set<string>();
  let total = 0;
  arms.forEach((arm, a) => {
    const apath = `${path}[${a}]`;
    if (!variants.has(arm.variant))
      out.push({ field: `${apath}.variant`, message: `${JSON.stringify(arm.variant)} is not a variant of the route` });
    else if (seen.has(arm.variant))
      out.push({ field: `${apath}.variant`, message: `duplicate weight for variant ${JSON.stringify(arm.variant)}` });
    seen.add(arm.variant);
    if (!Number.isInteger(arm.weight) || arm.weight < 0 || arm.weight > 100)
      out.push({ field: `${apath}.weight`, message: `must be a whole percent between 0 and 100, got ${arm.weight}` });
    total += arm.weight;
  });
  const sumProblem = weightsSumProblem(total);
  if (sumProblem) out.push({ field: path, message: sumProblem });
  return out;
}

/** Every problem with the settings; `path` prefixes each field (the snapshot check's rules). */
export function validateSettings(settings: Settings, path: string): FieldViolation[] {
  return checkSettings(settings, path);
}

/** Every problem of each object in `state`, plus duplicate node ids and route names. */
export function validateDesiredState(state: DesiredState): FieldViolation[] {
  const out: FieldViolation[] = [];
  const duplicateNode = uniqueKeys("node id", "nodes");
  state.nodes.forEach((node, i) => {
    out.push(...validateNode(node, `nodes[${i}]`));
    const duplicate = duplicateNode(node.id, i);
    if (duplicate) out.push({ field: `nodes[${i}].id`, message: duplicate });
  });
  const duplicateRoute = uniqueKeys("route name", "routes");
  state.routes.forEach((route, i) => {
    out.push(...validateRoute(route, `routes[${i}]`));
    const duplicate = duplicateRoute(route.name, i);
    if (duplicate) out.push({ field: `routes[${i}].name`, message: duplicate });
  });
  if (state.settings) out.push(...validateSettings(state.settings, "settings"));
  return out;
}
