/**
 * Compiles a targeting rule (`rule.ts`) to a fast evaluator. Each attribute the rule names is
 * looked up once per evaluation into preallocated slots (its string, its value as a number, its
 * value as a boolean — a string is parsed only where some condition compares it with a number or
 * a boolean); the rule's conditions are closures over those slots, built once. An evaluation
 * allocates nothing. Evaluation is synchronous, so one compiled rule's slots are never
 * used by two evaluations at once.
 */
import { invalidArgument } from "../../errors.ts";
import { createBucketer } from "../hash.ts";
import type { AttributeValue, Attributes, Condition, TargetingRule } from "./rule.ts";
import { validateTargeting } from "./validate-targeting.ts";

/** A compiled targeting rule. */
export interface Targeting {
  /** Names of the attributes the rule reads, in first-use order. */
  readonly attributes: readonly string[];
  /** Whether the rule uses a sample (and so needs a unit to match). */
  readonly usesUnit: boolean;
  /** Whether a request with these attributes and this unit (absent: none) matches the rule. */
  matches(attributes: Attributes, unit?: string): boolean;
}

/** A string that spells a number ("2", "-1.5", ".5", "1e3"); no hex, spaces, Infinity or NaN. */
const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Longest string still read as a number. */
const MAX_NUMERIC_LENGTH = 64;

const KIND_MISSING = 0;
const KIND_STRING = 1;
const KIND_OTHER = 2;

type Test = () => boolean;

/** Slots filled once per evaluation: kind, string value, numeric value (NaN: none), boolean (-1: none). */
class Slots {
  readonly names: string[] = [];
  /** Whether some condition reads the slot as a number / as a boolean (else it is not parsed). */
  readonly wantsNumber: boolean[] = [];
  readonly wantsBoolean: boolean[] = [];
  kinds = new Uint8Array(0);
  strings: string[] = [];
  numbers = new Float64Array(0);
  booleans = new Int8Array(0);
  unit = "";

  slot(name: string, operands: readonly AttributeValue[] | "number" | "none"): number {
    let at = this.names.indexOf(name);
    if (at < 0) {
      at = this.names.push(name) - 1;
      this.wantsNumber.push(false);
      this.wantsBoolean.push(false);
    }
    if (operands === "number" || (operands !== "none" && operands.some((v) => typeof v === "number")))
      this.wantsNumber[at] = true;
    if (operands !== "number" && operands !== "none" && operands.some((v) => typeof v === "boolean"))
      this.wantsBoolean[at] = true;
    return at;
  }

  allocate(): void {
    const n = this.names.length;
    this.kinds = new Uint8Array(n);
    this.strings = new Array<string>(n).fill("");
    this.numbers = new Float64Array(n);
    this.booleans = new Int8Array(n);
  }

  load(attributes: Attributes, unit: string | undefined): void {
    this.unit = unit ?? "";
    const { names, wantsNumber, wantsBoolean, kinds, strings, numbers, booleans } = this;
    for (let i = 0; i < names.length; i++) {
      const value: unknown = attributes[names[i]];
      kinds[i] = KIND_OTHER;
      strings[i] = "";
      numbers[i] = NaN;
      booleans[i] = -1;
      if (typeof value === "string") {
        kinds[i] = KIND_STRING;
        strings[i] = value;
        if (wantsNumber[i] && value.length <= MAX_NUMERIC_LENGTH && NUMERIC.test(value)) numbers[i] = Number(value);
        else if (wantsBoolean[i]) booleans[i] = value === "true" ? 1 : value === "false" ? 0 : -1;
      } else if (typeof value === "number") numbers[i] = value;
      else if (typeof value === "boolean") booleans[i] = value ? 1 : 0;
      else kinds[i] = KIND_MISSING; // absent, or not an attribute value (a prototype's function)
    }
  }
}

function equals(s: Slots, i: number, operand: AttributeValue): Test {
  if (typeof operand === "string") return () => s.kinds[i] === KIND_STRING && s.strings[i] === operand;
  if (typeof operand === "number") return () => s.numbers[i] === operand;
  const bit = operand ? 1 : 0;
  return () => s.booleans[i] === bit;
}

function member(s: Slots, i: number, list: readonly AttributeValue[]): Test {
  const strings = new Set(list.filter((v): v is string => typeof v === "string"));
  const numbers = new Set(list.filter((v): v is number => typeof v === "number"));
  const t = list.includes(true);
  const f = list.includes(false);
  return () =>
    (s.kinds[i] === KIND_STRING && strings.has(s.strings[i])) ||
    (numbers.size > 0 && numbers.has(s.numbers[i])) ||
    (t && s.booleans[i] === 1) ||
    (f && s.booleans[i] === 0);
}

/** What a condition compares its attribute with, for {@link Slots.slot}. */
function operandsOf(rule: Condition): readonly AttributeValue[] | "number" | "none" {
  if ("eq" in rule) return [rule.eq];
  if ("ne" in rule) return [rule.ne];
  if ("in" in rule) return rule.in;
  if ("notIn" in rule) return rule.notIn;
  return "exists" in rule ? "none" : "number";
}

function condition(s: Slots, rule: Condition): Test {
  const i = s.slot(rule.attr, operandsOf(rule));
  if ("eq" in rule) return equals(s, i, rule.eq);
  if ("ne" in rule) {
    const eq = equals(s, i, rule.ne);
    return () => !eq();
  }
  if ("in" in rule) return member(s, i, rule.in);
  if ("notIn" in rule) {
    const isIn = member(s, i, rule.notIn);
    return () => !isIn();
  }
  if ("lt" in rule) {
    const n = rule.lt;
    return () => s.numbers[i] < n;
  }
  if ("lte" in rule) {
    const n = rule.lte;
    return () => s.numbers[i] <= n;
  }
  if ("gt" in rule) {
    const n = rule.gt;
    return () => s.numbers[i] > n;
  }
  if ("gte" in rule) {
    const n = rule.gte;
    return () => s.numbers[i] >= n;
  }
  const present = rule.exists;
  return () => (s.kinds[i] !== KIND_MISSING) === present;
}

function build(s: Slots, rule: TargetingRule, usesUnit: { value: boolean }): Test {
  if ("all" in rule) {
    const parts = rule.all.map((r) => build(s, r, usesUnit));
    return () => {
      for (let k = 0; k < parts.length; k++) if (!parts[k]()) return false;
      return true;
    };
  }
  if ("any" in rule) {
    const parts = rule.any.map((r) => build(s, r, usesUnit));
    return () => {
      for (let k = 0; k < parts.length; k++) if (parts[k]()) return true;
      return false;
    };
  }
  if ("not" in rule) {
    const inner = build(s, rule.not, usesUnit);
    return () => !inner();
  }
  if ("sample" in rule) {
    usesUnit.value = true;
    const bucketOf = createBucketer(rule.sample.seed);
    const below = Math.round(rule.sample.percent * 100);
    return () => s.unit !== "" && bucketOf(s.unit) < below;
  }
  return condition(s, rule);
}

/**
 * Compiles `rule` (validated first: an invalid rule throws an `invalid_argument` TurnoutError
 * listing every problem under `path`). No rule (`undefined`) matches every request.
 */
export function compileTargeting(rule: TargetingRule | undefined, path = "targeting"): Targeting {
  if (rule === undefined) return { attributes: [], usesUnit: false, matches: () => true };
  const checked = validateTargeting(rule, path);
  if (!checked.ok) throw invalidArgument([...checked.violations]);
  const slots = new Slots();
  const usesUnit = { value: false };
  const root = build(slots, checked.rule, usesUnit);
  slots.allocate();
  return {
    attributes: [...slots.names],
    usesUnit: usesUnit.value,
    matches(attributes, unit) {
      slots.load(attributes, unit);
      return root();
    },
  };
}
