/**
 * `wait_for_fleet_ms` of the admin write RPCs: checked before the write (a control plane without
 * a fleet cannot wait, so the write is refused before anything changes), then, after the write,
 * wait until every live proxy serves the snapshot the write produced, or fail with
 * `deadline_exceeded` — the change itself stays accepted.
 */
import type { Convergence } from "../../../gen/turnout/v1/fleet_pb.js";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Fleet } from "./fleet.ts";

/** Throws `failed_precondition` when `waitMs > 0` and there is no fleet to wait on. */
export function checkFleetWait(fleet: Fleet | undefined, waitMs: number): void {
  if (waitMs > 0 && fleet === undefined) {
    throw new TurnoutError(
      ErrorCode.FailedPrecondition,
      "wait_for_fleet_ms needs fleet status, which this control plane runs without an event bus; retry without it",
    );
  }
}

/**
 * Waits up to `waitMs` for `version` to reach every live proxy and answers its convergence;
 * undefined when the caller did not ask to wait (`waitMs` 0).
 */
export async function waitForFleet(
  fleet: Fleet | undefined,
  version: number,
  waitMs: number,
  signal?: AbortSignal,
): Promise<Convergence | undefined> {
  if (waitMs <= 0 || fleet === undefined) return undefined;
  return fleet.waitForConvergence(version, waitMs, signal);
}
