/**
 * Validation of a targeting rule as operators write it (JSON, see `rule.ts`): a pure function that
 * reports every problem with its path (`targeting.all[1].gte: must be a number`), so one answer
 * lists all that is wrong with a rule.
 */
import type { FieldViolation } from "../../errors.ts";
import { BUCKETS } from "../hash.ts";
import { ATTRIBUTE_NAME_PATTERN, NUMERIC_OPERATORS, OPERATORS, RULE_LIMITS, type TargetingRule } from "./rule.ts";

/** The outcome of {@link validateTargeting}. */
export type TargetingValidation =
  | { readonly ok: true; readonly rule: TargetingRule }
  | { readonly ok: false; readonly violations: readonly FieldViolation[] };

const KINDS = ["attr", "all", "any", "not", "sample"] as const;
const OPERATOR_SET: ReadonlySet<string> = new Set(OPERATORS);
const OPERATOR_LIST = OPERATORS.join(", ");
/** Longest sample seed (as route seeds). */
const MAX_SEED_LENGTH = 200;

interface Walk {
  readonly out: FieldViolation[];
  nodes: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value === "object" ? "an object" : String(value);
}

function checkScalar(value: unknown, field: string, out: FieldViolation[]): void {
  if (typeof value === "string") {
    if (value.length > RULE_LIMITS.valueLength)
      out.push({ field, message: `must be at most ${RULE_LIMITS.valueLength} characters` });
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) out.push({ field, message: "must be a finite number" });
  } else if (typeof value !== "boolean") {
    out.push({ field, message: `must be a string, number or boolean, not ${describe(value)}` });
  }
}

function checkOperand(op: string, value: unknown, field: string, out: FieldViolation[]): void {
  if (op === "eq" || op === "ne") return checkScalar(value, field, out);
  if (op === "in" || op === "notIn") {
    if (!Array.isArray(value) || value.length === 0)
      return void out.push({ field, message: "must be a non-empty array of strings, numbers or booleans" });
    if (value.length > RULE_LIMITS.listValues)
      return void out.push({ field, message: `must have at most ${RULE_LIMITS.listValues} values` });
    value.forEach((v, i) => checkScalar(v, `${field}[${i}]`, out));
    return;
  }
  if (NUMERIC_OPERATORS.has(op)) {
    if (typeof value !== "number") out.push({ field, message: `must be a number, not ${describe(value)}` });
    else if (!Number.isFinite(value)) out.push({ field, message: "must be a finite number" });
    return;
  }
  if (typeof value !== "boolean") out.push({ field, message: `must be true or false, not ${describe(value)}` });
}

function checkCondition(rule: Record<string, unknown>, path: string, out: FieldViolation[]): void {
  const attr = rule.attr;
  const attrField = `${path}.attr`;
  if (typeof attr !== "string" || attr === "")
    out.push({ field: attrField, message: "must be a non-empty string (the attribute's name)" });
  else if (attr.length > RULE_LIMITS.nameLength)
    out.push({ field: attrField, message: `must be at most ${RULE_LIMITS.nameLength} characters` });
  else if (!ATTRIBUTE_NAME_PATTERN.test(attr))
    out.push({
      field: attrField,
      message: `${describe(attr)} is not a valid attribute name (letters, digits, '_', '.', ':' and '-')`,
    });
  const ops: string[] = [];
  for (const key of Object.keys(rule)) {
    if (key === "attr") continue;
    if (OPERATOR_SET.has(key)) ops.push(key);
    else out.push({ field: `${path}.${key}`, message: `unknown key (a condition has attr and one of ${OPERATOR_LIST})` });
  }
  if (ops.length === 0) out.push({ field: path, message: `needs one operator: ${OPERATOR_LIST}` });
  else if (ops.length > 1)
    out.push({
      field: path,
      message: `has ${ops.length} operators (${ops.join(", ")}); use one per condition and combine conditions with all`,
    });
  for (const op of ops) checkOperand(op, rule[op], `${path}.${op}`, out);
}

function checkSample(value: unknown, path: string, out: FieldViolation[]): void {
  if (!isObject(value))
    return void out.push({ field: path, message: `must be an object {percent, seed}, not ${describe(value)}` });
  for (const key of Object.keys(value)) {
    if (key !== "percent" && key !== "seed")
      out.push({ field: `${path}.${key}`, message: "unknown key (a sample has percent and seed)" });
  }
  const { percent, seed } = value;
  if (typeof percent !== "number" || !Number.isFinite(percent) || percent < 0 || percent > 100) {
    out.push({ field: `${path}.percent`, message: `must be a number from 0 to 100, not ${describe(percent)}` });
  } else if (Math.abs(percent * (BUCKETS / 100) - Math.round(percent * (BUCKETS / 100))) > 1e-6) {
    out.push({ field: `${path}.percent`, message: "must be a multiple of 0.01 (one bucket in 10,000)" });
  }
  if (typeof seed !== "string" || seed === "")
    out.push({ field: `${path}.seed`, message: "must be a non-empty string (the sample's own seed)" });
  else if (seed.length > MAX_SEED_LENGTH)
    out.push({ field: `${path}.seed`, message: `must be at most ${MAX_SEED_LENGTH} characters` });
}

function checkRule(value: unknown, path: string, depth: number, walk: Walk): void {
  const { out } = walk;
  if (!isObject(value))
    return void out.push({
      field: path,
      message: `must be an object (a condition, all, any, not or sample), not ${describe(value)}`,
    });
  if (++walk.nodes === RULE_LIMITS.nodes + 1)
    out.push({ field: path, message: `too many rules: at most ${RULE_LIMITS.nodes} in one targeting rule` });
  if (depth > RULE_LIMITS.depth) return void out.push({ field: path, message: `nested more than ${RULE_LIMITS.depth} deep` });
  const kinds = KINDS.filter((k) => Object.hasOwn(value, k));
  if (kinds.length === 0) {
    const keys = Object.keys(value);
    const found = keys.length === 0 ? "an empty object" : `keys ${keys.join(", ")}`;
    return void out.push({ field: path, message: `must have one of attr, all, any, not, sample (found ${found})` });
  }
  if (kinds.length > 1)
    return void out.push({
      field: path,
      message: `has both ${kinds[0]} and ${kinds[1]}; a rule is exactly one of attr, all, any, not, sample`,
    });
  const kind = kinds[0];
  if (kind === "attr") return checkCondition(value, path, out);
  for (const key of Object.keys(value)) {
    if (key !== kind) out.push({ field: `${path}.${key}`, message: `unknown key beside ${kind}` });
  }
  const field = `${path}.${kind}`;
  const inner = value[kind];
  if (kind === "sample") return checkSample(inner, field, out);
  if (kind === "not") return checkRule(inner, field, depth + 1, walk);
  if (!Array.isArray(inner) || inner.length === 0)
    return void out.push({ field, message: `must be a non-empty array of rules, not ${describe(inner)}` });
  inner.forEach((child, i) => checkRule(child, `${field}[${i}]`, depth + 1, walk));
}

/**
 * Every problem with `value` as a targeting rule, each with its path under `path` (default
 * `"targeting"`); on success the value itself, typed.
 */
export function validateTargeting(value: unknown, path = "targeting"): TargetingValidation {
  const walk: Walk = { out: [], nodes: 0 };
  checkRule(value, path, 1, walk);
  return walk.out.length === 0 ? { ok: true, rule: value as TargetingRule } : { ok: false, violations: walk.out };
}
