/**
 * The two fleet conditions of a make-before-break switch, over the control plane's Fleet:
 * `awaitFleetServing` — every live proxy serves snapshot `version` or newer (before the shift:
 * the snapshot with the target variant; after it: the snapshot with the shift), and
 * `awaitDrained` — the old variant has no request in flight on any live proxy (the sum of their
 * last reports, which are at most a heartbeat old).
 */
import { SyncState } from "../../../gen/turnout/v1/fleet_pb.js";
import { ApplyState } from "../../../gen/turnout/v1/events_pb.js";
import { delay } from "../../delay.ts";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Fleet } from "../fleet/fleet.ts";
import { reasonOf } from "./prewarm.ts";

/** How far a version got through the fleet. */
export interface FleetCount {
  /** Live proxies serving the version or newer. */
  synced: number;
  /** Live proxies. */
  live: number;
}

/**
 * Resolves once every live proxy serves `version` or newer (at once when no proxy is live:
 * nobody serves traffic). Calls `onCount` whenever the count changes. Rejects with
 * `failed_precondition` when a proxy still below `version` rejected it (naming the proxy and its
 * reason), with `deadline_exceeded` after `timeoutMs`, or with `aborted` when `signal` aborts.
 */
export async function awaitFleetServing(
  fleet: Fleet,
  version: number,
  timeoutMs: number,
  signal: AbortSignal,
  onCount: (c: FleetCount) => void,
): Promise<FleetCount> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const stop = AbortSignal.any([deadline, signal]);
  let last: FleetCount | undefined;
  let lagging: string[] = [];
  for await (const view of fleet.watch(stop, 50)) {
    const live = view.proxies.filter((p) => p.sync !== SyncState.GONE && p.status !== undefined);
    const behind = live.filter((p) => Number(p.status!.appliedVersion) < version);
    const count = { synced: live.length - behind.length, live: live.length };
    if (last === undefined || last.synced !== count.synced || last.live !== count.live) onCount(count);
    last = count;
    if (behind.length === 0) return count;
    const nack = behind.find((p) => p.status!.state === ApplyState.NACK && Number(p.status!.version) >= version);
    if (nack !== undefined) {
      throw new TurnoutError(
        ErrorCode.FailedPrecondition,
        `proxy ${JSON.stringify(nack.status!.id)} rejected snapshot version ${version}: ${nack.status!.error}`,
      );
    }
    lagging = behind.map((p) => `${p.status!.id} at ${p.status!.appliedVersion}`);
  }
  if (signal.aborted)
    throw new TurnoutError(ErrorCode.Aborted, `the switch was aborted${reasonOf(signal)}`, { cause: signal.reason });
  if (deadline.aborted) {
    const c = last ?? { synced: 0, live: 0 };
    throw new TurnoutError(
      ErrorCode.DeadlineExceeded,
      `only ${c.synced} of ${c.live} live proxies serve snapshot version ${version} after ${timeoutMs} ms (behind: ${lagging.join(", ")})`,
    );
  }
  throw new TurnoutError(ErrorCode.Unavailable, "the control plane is shutting down");
}

/**
 * Resolves once (`route`, each of `variants`) has no request in flight on any live proxy.
 * Calls `onInFlight` when the count changes; polls every `pollMs`. Rejects with
 * `deadline_exceeded` after `timeoutMs` (naming the count left) or `aborted` on `signal`.
 */
export async function awaitDrained(
  fleet: Fleet,
  route: string,
  variants: readonly string[],
  timeoutMs: number,
  signal: AbortSignal,
  onInFlight: (n: number) => void,
  pollMs = 100,
): Promise<void> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const stop = AbortSignal.any([deadline, signal]);
  let last = -1;
  for (;;) {
    let n = 0;
    for (const v of variants) n += fleet.inFlight(route, v);
    if (n !== last) onInFlight(n);
    last = n;
    if (n === 0) return;
    await delay(pollMs, stop);
    if (signal.aborted)
      throw new TurnoutError(ErrorCode.Aborted, `the switch was aborted${reasonOf(signal)}`, { cause: signal.reason });
    if (deadline.aborted) {
      throw new TurnoutError(
        ErrorCode.DeadlineExceeded,
        `${last} requests of ${variants.join(", ")} still in flight after ${timeoutMs} ms`,
      );
    }
  }
}
