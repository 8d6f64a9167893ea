/**
 * The targeting rule model: which requests may enter an experiment, as operators write it in
 * JSON. A rule is one of
 *
 * - a condition on one attribute, with exactly one operator:
 *   `{"attr":"region","eq":"eu"}`, `ne`, `{"attr":"region","in":["eu","us"]}`, `notIn`,
 *   `{"attr":"visits","gte":2}` (also `gt`, `lt`, `lte`), `{"attr":"plan","exists":true}`;
 * - a combination: `{"all":[rule, …]}` (and), `{"any":[rule, …]}` (or), `{"not":rule}`, nested
 *   freely;
 * - a sticky random sample of units: `{"sample":{"percent":10,"seed":"holdout-7"}}` — the unit's
 *   GrowthBook v2 bucket under its own seed is below `percent` × 100.
 *
 * Semantics: `eq`/`in` match an attribute of the operand's type; a string attribute that spells
 * a number (`"2"`, `"-1.5"`, `"1e3"`) or a boolean (`"true"`, `"false"`) also matches a number or
 * boolean operand by value (header values are always strings). A missing attribute or one of
 * another type does not match. `ne` is exactly `not eq`, `notIn` exactly `not in` (so both match
 * a missing attribute). Numeric operators match only numbers and strings that spell numbers.
 * `exists:true` matches a present attribute, `exists:false` an absent one. A sample never matches
 * a request without a unit.
 */

/** An attribute value: what headers (always strings) and body metadata can carry. */
export type AttributeValue = string | number | boolean;

/** Request attributes by name. */
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** The operators of a condition, as `as const` object + union type (no `enum`). */
export const Operator = {
  Eq: "eq",
  Ne: "ne",
  In: "in",
  NotIn: "notIn",
  Lt: "lt",
  Lte: "lte",
  Gt: "gt",
  Gte: "gte",
  Exists: "exists",
} as const;
export type Operator = (typeof Operator)[keyof typeof Operator];

/** Every operator, in the order error messages list them. */
export const OPERATORS: readonly Operator[] = Object.values(Operator);

/** Operators that compare numbers. */
export const NUMERIC_OPERATORS: ReadonlySet<string> = new Set([Operator.Lt, Operator.Lte, Operator.Gt, Operator.Gte]);

/** A condition on one attribute: `attr` plus exactly one operator. */
export type Condition =
  | { readonly attr: string; readonly eq: AttributeValue }
  | { readonly attr: string; readonly ne: AttributeValue }
  | { readonly attr: string; readonly in: readonly AttributeValue[] }
  | { readonly attr: string; readonly notIn: readonly AttributeValue[] }
  | { readonly attr: string; readonly lt: number }
  | { readonly attr: string; readonly lte: number }
  | { readonly attr: string; readonly gt: number }
  | { readonly attr: string; readonly gte: number }
  | { readonly attr: string; readonly exists: boolean };

/** A sticky random share of units, hashed with a seed of its own. */
export interface Sample {
  /** Share of units, 0..100 in steps of 0.01 (one bucket of 10,000). */
  readonly percent: number;
  /** Seed of the sample's hash; distinct from any experiment or layer seed. */
  readonly seed: string;
}

/** A targeting rule. */
export type TargetingRule =
  | Condition
  | { readonly all: readonly TargetingRule[] }
  | { readonly any: readonly TargetingRule[] }
  | { readonly not: TargetingRule }
  | { readonly sample: Sample };

/** Limits on one rule, so a snapshot cannot carry a rule that is slow to evaluate. */
export const RULE_LIMITS = {
  /** Most rules (conditions, combinations, samples) in one rule tree. */
  nodes: 256,
  /** Deepest nesting of combinations. */
  depth: 16,
  /** Most values in one `in` / `notIn` list. */
  listValues: 1000,
  /** Longest attribute name and longest string operand. */
  nameLength: 64,
  valueLength: 512,
} as const;

/** Attribute names: letters, digits, '_', '.', ':' and '-' (header tokens lower-cased fit). */
export const ATTRIBUTE_NAME_PATTERN = /^[A-Za-z0-9_.:-]+$/;
