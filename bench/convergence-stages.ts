/**
 * Where one change's time goes, from timestamps on one machine's wall clock (ms): the bench's
 * send and receive of the admin RPC, the snapshot's publish time as the control plane's fleet
 * tracker records it (`Convergence.published_at`, the snapshot's created_at: compiled, before the
 * KV write), the control plane's "published snapshot" log record (after the CAS write of the
 * snapshot key and the route-since bookkeeping), every proxy's "snapshot applied" log record
 * (KV watch delivered, decoded, checked, compiled, swapped; the ACK is published right after) and
 * the tracker's last-ACK time (publish + `publish_to_last_ack_ms`: the last proxy's status
 * arrived over the bus). Pure functions; the bench feeds them.
 */
import { Samples, type LatencySummary } from "./latency-summary.ts";

/** What the bench observed for one change. */
export interface ChangeObservation {
  /** Snapshot version the change produced. */
  version: number;
  /** Client clock before sending the RPC. */
  sentAt: number;
  /** Client clock when the response arrived. */
  answeredAt: number;
  /** Convergence.published_at (ms). */
  publishedAt: number;
  /** Convergence.publish_to_last_ack_ms. */
  publishToLastAckMs: number;
  /** Time of the control plane's "published snapshot" record for this version, if logged. */
  kvWrittenAt?: number;
  /** Times of the proxies' "snapshot applied" records for this version (one per proxy that logged it). */
  appliedAt: number[];
}

/** One stage: its name, what it covers, and a function of an observation (NaN when unknown). */
export interface Stage {
  name: string;
  of(o: ChangeObservation): number;
}

const first = (xs: number[]) => (xs.length === 0 ? NaN : Math.min(...xs));
const last = (xs: number[]) => (xs.length === 0 ? NaN : Math.max(...xs));
const lastAckAt = (o: ChangeObservation) => o.publishedAt + o.publishToLastAckMs;

/** The stages reported, in pipeline order (the first four are inside publish → last ACK). */
export const STAGES: Stage[] = [
  { name: "RPC sent → snapshot compiled (admin write, read state)", of: (o) => o.publishedAt - o.sentAt },
  { name: "compiled → KV write done + logged (control)", of: (o) => (o.kvWrittenAt ?? NaN) - o.publishedAt },
  { name: "compiled → first proxy applied", of: (o) => first(o.appliedAt) - o.publishedAt },
  { name: "compiled → last proxy applied", of: (o) => last(o.appliedAt) - o.publishedAt },
  { name: "first → last proxy applied (spread)", of: (o) => last(o.appliedAt) - first(o.appliedAt) },
  { name: "last applied → last ACK in tracker (bus)", of: (o) => lastAckAt(o) - last(o.appliedAt) },
  { name: "publish → last ACK (tracker's figure)", of: (o) => o.publishToLastAckMs },
  { name: "last ACK → RPC answered (client)", of: (o) => o.answeredAt - lastAckAt(o) },
  { name: "RPC round trip (client)", of: (o) => o.answeredAt - o.sentAt },
];

/** Percentiles of `stage` over the observations where it is known. */
export function summarizeStage(stage: Stage, observations: readonly ChangeObservation[]): LatencySummary {
  const samples = new Samples();
  for (const o of observations) {
    const v = stage.of(o);
    if (Number.isFinite(v)) samples.add(v);
  }
  return samples.summary();
}

/** Percentiles of any per-change number. */
export function summarize(values: readonly number[]): LatencySummary {
  const samples = new Samples();
  for (const v of values) if (Number.isFinite(v)) samples.add(v);
  return samples.summary();
}

/**
 * Per proxy: how far behind the first proxy it applied, over all changes (p50 and max), so a
 * proxy that is always last stands out from a random straggler.
 */
export function perProxyLag(
  appliedBy: ReadonlyMap<string, ReadonlyMap<number, number>>,
  versions: readonly number[],
): { id: string; p50: number; max: number }[] {
  const out: { id: string; p50: number; max: number }[] = [];
  for (const [id, times] of appliedBy) {
    const lags: number[] = [];
    for (const v of versions) {
      const mine = times.get(v);
      if (mine === undefined) continue;
      const firsts = [...appliedBy.values()].map((t) => t.get(v)).filter((t): t is number => t !== undefined);
      lags.push(mine - Math.min(...firsts));
    }
    const s = summarize(lags);
    out.push({ id, p50: s.p50, max: s.max });
  }
  return out.sort((a, b) => b.p50 - a.p50);
}
