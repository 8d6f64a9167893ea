/**
 * Lines the `turnout rollout` commands print (pure): a rollout's status, a decision with its gate
 * numbers, a watch update's progress.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Convergence } from "../../gen/turnout/v1/fleet_pb.js";
import {
  GateVerdict,
  RolloutPhase,
  RolloutState,
  type GateReport,
  type Rollout,
  type RolloutEvent,
} from "../../gen/turnout/v1/rollout_pb.js";

const time = (t: { seconds: bigint; nanos: number } | undefined) =>
  t === undefined ? "--:--:--" : new Date(Number(t.seconds) * 1000 + t.nanos / 1e6).toISOString().slice(11, 19);
const stateName = (s: RolloutState) => (RolloutState[s] ?? "UNSPECIFIED").toLowerCase();
const phaseName = (p: RolloutPhase) => (RolloutPhase[p] ?? "UNSPECIFIED").toLowerCase();
const fmt = (x: number) => String(Number(x.toPrecision(3)));
const mark: Record<number, string> = {
  [GateVerdict.PASS]: "pass",
  [GateVerdict.FAIL]: "FAIL",
  [GateVerdict.INSUFFICIENT]: "wait",
};

/** One line: id, route, variants, state, step and weights. */
export function formatRollout(r: Rollout): string {
  const where = r.state === RolloutState.RUNNING || r.state === RolloutState.PAUSED ? ` ${phaseName(r.phase)}` : "";
  const step = r.step > 0 ? ` step ${r.step}/${r.steps.length}` : "";
  const reason = r.reason ? `  (${r.reason})` : "";
  return `${r.id}  ${r.route}: ${r.fromVariant} → ${r.toVariant}  ${stateName(r.state)}${where}${step}  canary ${r.canaryPercent}%  [${r.steps.join(" ")}]${reason}`;
}

/** One indented line per gate of an evaluation, after a summary line. */
export function formatEvaluation(ev: GateReport): string[] {
  const c = ev.canary;
  const s = ev.stable;
  const lines = [
    `    gates at step ${ev.step} (${ev.canaryPercent}%) over ${ev.windowSeconds} s: ${(mark[ev.verdict] ?? "?").toLowerCase()}  canary ${c?.requests ?? 0} requests, error rate ${fmt(c?.errorRate ?? 0)}, p99 ttft ${fmt(c?.p99TtftMs ?? 0)} ms  stable ${s?.requests ?? 0} requests, error rate ${fmt(s?.errorRate ?? 0)}`,
  ];
  for (const g of ev.results) lines.push(`      ${(mark[g.verdict] ?? "?").padEnd(4)} ${g.gate.padEnd(19)} ${g.detail}`);
  return lines;
}

/** A decision, then (with `gates`) the lines of its evaluation. */
export function formatEvent(e: RolloutEvent, gates = true): string[] {
  const snapshot = e.snapshotVersion > 0n ? `  snapshot ${e.snapshotVersion}` : "";
  const lines = [
    `${time(e.at)}  ${e.rolloutId}  ${e.kind.padEnd(11)} step ${e.step}  canary ${e.canaryPercent}%${snapshot}  ${e.reason}`,
  ];
  if (gates && e.evaluation !== undefined && e.kind !== "step" && e.kind !== "rolled_back")
    lines.push(...formatEvaluation(e.evaluation));
  return lines;
}

/** A progress line for a watch update that carries no decision, or undefined when nothing worth a line changed. */
export function formatProgress(r: Rollout, convergence: Convergence | undefined, nowMs: number): string | undefined {
  if (r.state !== RolloutState.RUNNING)
    return r.state === RolloutState.PAUSED
      ? `${time(r.updatedAt)}  ${r.id}  paused at step ${r.step} (${r.remainingMs} ms of dwell left)`
      : undefined;
  const at = new Date(nowMs).toISOString().slice(11, 19);
  switch (r.phase) {
    case RolloutPhase.WARMING:
      return `${at}  ${r.id}  warming ${r.toVariant}`;
    case RolloutPhase.CONVERGING:
      return `${at}  ${r.id}  step ${r.step}: waiting for the fleet${convergence ? ` ${convergence.synced}/${convergence.live} proxies on snapshot ${r.snapshotVersion}` : ""}`;
    case RolloutPhase.DWELLING: {
      const left = r.dwellEndsAt ? Math.max(0, timestampMs(r.dwellEndsAt) - nowMs) : 0;
      const fleet = r.convergence ? `  fleet ${r.convergence.synced}/${r.convergence.live}` : "";
      return `${at}  ${r.id}  step ${r.step}: ${r.fromVariant} ${100 - r.canaryPercent} / ${r.toVariant} ${r.canaryPercent}${fleet}  evaluating in ${(left / 1000).toFixed(1)} s`;
    }
    default:
      return undefined;
  }
}
