/**
 * Guards of the admin write path: the expected-revision check and the translation of whole-state
 * consistency problems into the error the caller gets. Problems in the object being written are
 * `invalid_argument` naming the request's fields (`route.variants[0].nodes[0]: node "gpu-9" does
 * not exist`); problems the change causes in other objects are `failed_precondition` naming them
 * (`routes["qwen3-32b"].variants[0].nodes[0]: node "gpu-1" does not exist`).
 */
import { ErrorCode, TurnoutError, formatViolations, type FieldViolation } from "../../errors.ts";
import type { DesiredState } from "../state/desired-state.ts";

/** The object a write changes: its kind, its index in the checked state, and its request field. */
export interface WriteTarget {
  kind: "node" | "route";
  /** Index in `state.nodes` / `state.routes`; -1 for a deletion. */
  index: number;
  /** Request field that holds the object, e.g. "node" or "route". */
  field: string;
}

/** Throws `aborted` unless `expected` is undefined or equals the current revision (0: absent). */
export function checkExpectedRevision(what: string, current: number | undefined, expected: number | undefined): void {
  if (expected === undefined) return;
  const actual = current ?? 0;
  if (actual === expected) return;
  const have = current === undefined ? "it does not exist" : `its revision is ${actual}`;
  throw new TurnoutError(ErrorCode.Aborted, `${what}: expected revision ${expected}, but ${have}`);
}

/**
 * The error for consistency `problems` of `state` after a write to `target` (see the module doc),
 * or undefined when there are none. `action` describes the write ("deleting node \"gpu-1\"").
 */
export function consistencyError(
  problems: readonly FieldViolation[],
  state: DesiredState,
  target: WriteTarget,
  action: string,
): TurnoutError | undefined {
  if (problems.length === 0) return undefined;
  const own: FieldViolation[] = [];
  const others: FieldViolation[] = [];
  for (const v of problems) {
    const m = /^(nodes|routes)\[(\d+)\](.*)$/.exec(v.field);
    if (m === null) {
      others.push(v);
      continue;
    }
    const index = Number(m[2]);
    if (m[1] === `${target.kind}s` && index === target.index) {
      own.push({ field: target.field + m[3], message: v.message });
    } else {
      const name = m[1] === "nodes" ? state.nodes[index]?.id : state.routes[index]?.name;
      others.push({ field: `${m[1]}[${JSON.stringify(name)}]${m[3]}`, message: v.message });
    }
  }
  const all = [...own, ...others];
  const text = formatViolations(all);
  if (own.length > 0) return new TurnoutError(ErrorCode.InvalidArgument, text, { violations: all });
  return new TurnoutError(ErrorCode.FailedPrecondition, `${action} would leave the routing state inconsistent: ${text}`, {
    violations: all,
  });
}
