/**
 * A request's targeting attributes: headers `x-turnout-attr-<name>` (names lower-cased, values
 * strings) and an optional JSON `metadata` object from the body (values as typed: strings, finite
 * numbers, booleans; `null` means not set). Limits keep a request from carrying more than a
 * header's worth of attributes; every problem is reported with the header or metadata key.
 */
import type { FieldViolation } from "../../errors.ts";
import { ATTRIBUTE_NAME_PATTERN, RULE_LIMITS, type AttributeValue, type Attributes } from "./rule.ts";

/** Prefix of attribute headers. */
const ATTRIBUTE_HEADER_PREFIX = "x-turnout-attr-";

/** Limits on a request's attributes. */
export interface AttributeLimits {
  /** Most attributes, headers and metadata together. Default 32. */
  readonly maxAttributes?: number;
  /** Longest attribute name (after the header prefix). Default 64. */
  readonly maxNameLength?: number;
  /** Longest string value. Default 512 (OpenAI's limit for `metadata` values). */
  readonly maxValueLength?: number;
}

/** Request headers as node's http and http2 servers expose them. */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | number | undefined>>;

/** The outcome of {@link attributesOf}. */
export type AttributesResult =
  | { readonly ok: true; readonly attributes: Attributes }
  | { readonly ok: false; readonly violations: readonly FieldViolation[] };

const EMPTY: Attributes = Object.freeze(Object.create(null) as Record<string, AttributeValue>);

function nameProblem(name: string, maxLength: number): string | undefined {
  if (name === "") return "the attribute name is empty";
  if (name.length > maxLength) return `the attribute name is longer than ${maxLength} characters`;
  if (!ATTRIBUTE_NAME_PATTERN.test(name)) return "the attribute name may hold only letters, digits, '_', '.', ':' and '-'";
  return undefined;
}

/**
 * The attributes of a request with `headers` and body `metadata` (`undefined` when the body has
 * none). A name given both as a header and in metadata must carry the same value (compared as
 * text); the metadata's typed value is kept.
 */
export function attributesOf(headers: HeaderBag, metadata: unknown, limits: AttributeLimits = {}): AttributesResult {
  const maxAttributes = limits.maxAttributes ?? 32;
  const maxName = limits.maxNameLength ?? RULE_LIMITS.nameLength;
  const maxValue = limits.maxValueLength ?? RULE_LIMITS.valueLength;
  const out: FieldViolation[] = [];
  let attributes: Record<string, AttributeValue> | undefined;
  let count = 0;
  const fromHeader = new Map<string, string>();

  for (const rawName of Object.keys(headers)) {
    const header = rawName.toLowerCase();
    if (!header.startsWith(ATTRIBUTE_HEADER_PREFIX)) continue;
    const field = `header ${header}`;
    const raw = headers[rawName];
    if (raw === undefined) continue;
    const value = typeof raw === "number" ? String(raw) : raw;
    const name = header.slice(ATTRIBUTE_HEADER_PREFIX.length);
    const problem = nameProblem(name, maxName);
    if (problem) {
      out.push({ field, message: problem });
      continue;
    }
    if (typeof value !== "string") {
      out.push({ field, message: "must be given once" });
      continue;
    }
    if (value.length > maxValue) {
      out.push({ field, message: `the value is longer than ${maxValue} characters` });
      continue;
    }
    attributes ??= Object.create(null) as Record<string, AttributeValue>;
    if (fromHeader.has(name)) {
      out.push({ field, message: "must be given once" });
      continue;
    }
    fromHeader.set(name, value);
    attributes[name] = value;
    count++;
  }

  if (metadata !== undefined) {
    const proto =
      typeof metadata === "object" && metadata !== null && !Array.isArray(metadata) ? Object.getPrototypeOf(metadata) : undefined;
    if (proto !== Object.prototype && proto !== null) {
      out.push({ field: "metadata", message: "must be a JSON object of strings, numbers and booleans" });
    } else {
      const record = metadata as Record<string, unknown>;
      for (const name of Object.keys(record)) {
        const field = `metadata.${name}`;
        const value = record[name];
        const problem = nameProblem(name, maxName);
        if (problem) {
          out.push({ field, message: problem });
          continue;
        }
        if (value === null) continue;
        if (typeof value === "string") {
          if (value.length > maxValue) {
            out.push({ field, message: `the value is longer than ${maxValue} characters` });
            continue;
          }
        } else if (typeof value === "number") {
          if (!Number.isFinite(value)) {
            out.push({ field, message: "must be a finite number" });
            continue;
          }
        } else if (typeof value !== "boolean") {
          out.push({
            field,
            message: `must be a string, number or boolean, not ${Array.isArray(value) ? "an array" : typeof value}`,
          });
          continue;
        }
        const header = fromHeader.get(name);
        if (header !== undefined && header !== String(value)) {
          out.push({ field, message: `differs from header ${ATTRIBUTE_HEADER_PREFIX}${name}` });
          continue;
        }
        attributes ??= Object.create(null) as Record<string, AttributeValue>;
        attributes[name] = value;
        if (header === undefined) count++;
      }
    }
  }

  if (count > maxAttributes) {
    out.push({
      field: "attributes",
      message: `${count} attributes, more than ${maxAttributes} (x-turnout-attr-* headers and metadata together)`,
    });
  }
  if (out.length > 0) return { ok: false, violations: out };
  return { ok: true, attributes: attributes ?? EMPTY };
}
