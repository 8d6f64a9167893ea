/**
 * Typed reading of an untyped YAML tree that records every problem with its path instead of
 * stopping at the first: wrong types, out-of-range numbers, bad durations and unknown keys.
 */
import { CONFIG_DURATION, parseDuration } from "../../duration.ts";
import type { FieldViolation } from "../../errors.ts";

/** Collects problems; `broken` remembers paths whose value could not be read at all. */
export class Problems {
  readonly list: FieldViolation[] = [];
  readonly broken = new Set<string>();

  add(field: string, message: string): void {
    this.list.push({ field, message });
  }

  /** Records an unreadable value at `field` (later problems under it are noise). */
  bad(field: string, message: string): void {
    this.add(field, message);
    this.broken.add(field);
  }

  /** True when `field` is, or lies under, a path already known to be unreadable or reported. */
  covers(field: string): boolean {
    for (const known of [...this.broken, ...this.list.map((p) => p.field)]) {
      if (field === known || field.startsWith(`${known}.`) || field.startsWith(`${known}[`)) return true;
    }
    return false;
  }
}

/** `base.key` (or `key` at the top). */
export function at(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  return base === "" ? key : `${base}.${key}`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "a mapping" : `${typeof value} ${JSON.stringify(value)}`;
}

/** A mapping at `path` with only `allowed` keys (others reported), or undefined. */
export function readMap(
  value: unknown,
  path: string,
  p: Problems,
  allowed?: readonly string[],
): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    p.bad(path || "(top level)", `must be a mapping, got ${describe(value)}`);
    return undefined;
  }
  const map = value as Record<string, unknown>;
  if (allowed) {
    for (const key of Object.keys(map)) {
      if (!allowed.includes(key)) p.add(at(path, key), `unknown key (allowed: ${allowed.join(", ")})`);
    }
  }
  return map;
}

/** A list at `path`, or undefined (absent or reported). */
export function readList(value: unknown, path: string, p: Problems): unknown[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    p.bad(path, `must be a list, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

/** A string at `path` (numbers are taken as their text), or undefined. */
export function readString(value: unknown, path: string, p: Problems): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  p.bad(path, `must be a string, got ${describe(value)}`);
  return undefined;
}

/** A list of strings at `path`. */
export function readStrings(value: unknown, path: string, p: Problems): string[] {
  const list = readList(value, path, p) ?? [];
  const out: string[] = [];
  list.forEach((item, i) => {
    const s = readString(item, at(path, i), p);
    if (s !== undefined) out.push(s);
  });
  return out;
}

/** A whole number in [min, max] at `path`, or undefined. */
export function readInt(value: unknown, path: string, p: Problems, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    p.bad(path, `must be a whole number from ${min} to ${max}, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

/** A boolean at `path`, or undefined. */
export function readBool(value: unknown, path: string, p: Problems): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") {
    p.bad(path, `must be true or false, got ${describe(value)}`);
    return undefined;
  }
  return value;
}

/** A duration at `path` in whole ms, read by the one duration grammar with bare numbers as ms
 * ({@link CONFIG_DURATION}: 0 to 4294967295 ms), or undefined. */
export function readDuration(value: unknown, path: string, p: Problems): number | undefined {
  if (value === undefined || value === null) return undefined;
  const r = typeof value === "string" || typeof value === "number" ? parseDuration(value, CONFIG_DURATION) : undefined;
  if (r?.ok) return r.ms;
  p.bad(path, `${r?.must ?? `must be ${CONFIG_DURATION.accepted}`}, got ${describe(value)}`);
  return undefined;
}
