/** Test helper: the `path: message` lines of an invalid_argument error. */
import assert from "node:assert/strict";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";

/** The `path: message` lines of the invalid_argument error `fn` throws. */
export function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TurnoutError, String(err));
    assert.equal(err.code, ErrorCode.InvalidArgument);
    return err.violations.map((v) => `${v.field}: ${v.message}`);
  }
  assert.fail("expected an invalid_argument error");
}
