/**
 * The fleet tracker: proxy status reports and observed snapshot versions in, the fleet view out
 * (each proxy's SyncState against the latest snapshot, and per-version convergence). Pure state:
 * no timers and no clock — every call takes the time `now` (ms since the epoch) explicitly, so
 * tests drive it with exact timestamps. The live part (fleet.ts) feeds it from the bus and the
 * store and runs the timer for GONE transitions.
 *
 * Rules:
 * - A proxy silent for `goneAfterHeartbeats` × its heartbeat interval is GONE and not counted.
 * - Against the latest version L a live proxy is NACKED when its last report rejects L (or a newer
 *   version), else SYNCED when it serves L or newer, else STALE.
 * - Convergence of version V: synced = live proxies serving ≥ V; nacked = live proxies below V
 *   that rejected V; stale = the rest. `publish_to_last_ack_ms` is the time from the first
 *   observation of V (publish, store watch or a report, whichever came first) to the moment the
 *   last live proxy reported serving V or newer, fixed the first time V converged.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ApplyState, type ProxyStatus } from "../../../gen/turnout/v1/events_pb.js";
import {
  ConvergenceSchema,
  ProxyEntrySchema,
  SyncState,
  type Convergence,
  type ProxyEntry,
} from "../../../gen/turnout/v1/fleet_pb.js";

/** Options of {@link createFleetTracker}. */
export interface FleetTrackerOptions {
  /** Heartbeats a proxy may miss before it counts as GONE. Default 3. */
  goneAfterHeartbeats?: number;
  /** Heartbeat interval assumed when a report carries none, in ms. Default 1000. */
  defaultHeartbeatMs?: number;
  /** Snapshot versions whose convergence is remembered (oldest dropped first). Default 100. */
  historySize?: number;
  /** GONE proxies are forgotten this long after their last report, in ms. Default 600000 (10 min). */
  forgetGoneAfterMs?: number;
}

/** The fleet at one moment. */
export interface FleetView {
  /** Proxies sorted by id. */
  proxies: ProxyEntry[];
  /** Convergence of the latest snapshot (version 0 before any is known). */
  latest: Convergence;
}

/** What the tracker knows about one proxy. */
interface ProxyRecord {
  status: ProxyStatus;
  /** When the last report arrived. */
  seenAt: number;
  /** Applied version, as a number. */
  applied: number;
  /** When the proxy first reported its current applied version. */
  appliedSince: number;
}

/** What the tracker knows about one snapshot version. */
interface VersionRecord {
  /** First observation of the version. */
  publishedAt: number;
  /** Per proxy: when it first reported serving this version or a newer one. */
  syncedAt: Map<string, number>;
  /** Per proxy: why it rejected this version. */
  nacks: Map<string, string>;
  /** When the last live proxy synced, fixed at the first convergence. */
  lastAckAt?: number;
}

/** Pure fleet state; see the file comment for the rules. */
export interface FleetTracker {
  /** Records a proxy's report received at `now`; true when the view changed (more than the heartbeat time). */
  recordStatus(status: ProxyStatus, now: number): boolean;
  /** Records that snapshot `version` was published or seen at `at`; true when it is new or now the latest. */
  observeSnapshot(version: number, at: number): boolean;
  /** The latest snapshot version observed (0 before any). */
  latestVersion(): number;
  /** Whether `version` was observed, reported or is still in the history. */
  knows(version: number): boolean;
  /** The proxy's SyncState at `now`, undefined for an unknown id. */
  syncOf(id: string, now: number): SyncState | undefined;
  /** Every proxy with its SyncState, sorted by id; GONE ones only with `includeGone`. */
  entries(now: number, includeGone: boolean): ProxyEntry[];
  /** Convergence of `version` at `now`. */
  convergence(version: number, now: number): Convergence;
  /** Entries (gone included) and the latest convergence. */
  view(now: number): FleetView;
  /** When, after `now`, the next live proxy turns GONE or a GONE one is forgotten; undefined when none will. */
  nextTransitionAt(now: number): number | undefined;
  /** Forgets proxies GONE for longer than `forgetGoneAfterMs`; true when one was dropped. */
  prune(now: number): boolean;
}

/** Creates an empty tracker. */
export function createFleetTracker(options: FleetTrackerOptions = {}): FleetTracker {
  const goneAfter = options.goneAfterHeartbeats ?? 3;
  const defaultInterval = options.defaultHeartbeatMs ?? 1000;
  const historySize = options.historySize ?? 100;
  const forgetAfter = options.forgetGoneAfterMs ?? 600_000;
  const proxies = new Map<string, ProxyRecord>();
  const versions = new Map<number, VersionRecord>();
  let latest = 0;

  const intervalOf = (r: ProxyRecord) => r.status.heartbeatIntervalMs || defaultInterval;
  const goneAt = (r: ProxyRecord) => r.seenAt + goneAfter * intervalOf(r);
  const isLive = (r: ProxyRecord, now: number) => now < goneAt(r);
  const forgetAt = (r: ProxyRecord) => Math.max(r.seenAt + forgetAfter, goneAt(r));

  function versionRecord(version: number, at: number): VersionRecord {
    let record = versions.get(version);
    if (record !== undefined) {
      if (at < record.publishedAt) record.publishedAt = at;
      return record;
    }
    record = { publishedAt: at, syncedAt: new Map(), nacks: new Map() };
    for (const [id, p] of proxies) if (p.applied >= version) record.syncedAt.set(id, p.appliedSince);
    versions.set(version, record);
    if (versions.size > historySize) {
      const oldest = Math.min(...versions.keys());
      versions.delete(oldest);
    }
    return record;
  }

  function sync(r: ProxyRecord, now: number): SyncState {
    if (!isLive(r, now)) return SyncState.GONE;
    if (r.status.state === ApplyState.NACK && Number(r.status.version) >= latest && latest > 0) return SyncState.NACKED;
    if (r.applied >= latest) return SyncState.SYNCED;
    return SyncState.STALE;
  }

  /** Fixes `lastAckAt` of every unconverged version whose live proxies all serve it. */
  function freezeConverged(now: number): void {
    const live = [...proxies.entries()].filter(([, p]) => isLive(p, now));
    if (live.length === 0) return;
    for (const [version, record] of versions) {
      if (record.lastAckAt !== undefined) continue;
      let last = 0;
      let all = true;
      for (const [id, p] of live) {
        const at = record.syncedAt.get(id);
        if (p.applied < version || at === undefined) {
          all = false;
          break;
        }
        last = Math.max(last, at);
      }
      if (all) record.lastAckAt = Math.max(last, record.publishedAt);
    }
  }

  function convergence(version: number, now: number): Convergence {
    let live = 0;
    let synced = 0;
    let nacked = 0;
    const record = versions.get(version);
    for (const [id, p] of proxies) {
      if (!isLive(p, now)) continue;
      live++;
      if (p.applied >= version) synced++;
      else if (record?.nacks.has(id)) nacked++;
    }
    const converged = live > 0 && synced === live && version > 0;
    if (converged && record !== undefined && record.lastAckAt === undefined) freezeConverged(now);
    const lastAck = record?.lastAckAt;
    return create(ConvergenceSchema, {
      version: BigInt(version),
      live,
      synced,
      stale: live - synced - nacked,
      nacked,
      publishedAt: record === undefined ? undefined : timestampFromMs(record.publishedAt),
      publishToLastAckMs: lastAck === undefined || record === undefined ? 0 : lastAck - record.publishedAt,
      converged,
    });
  }

  function entries(now: number, includeGone: boolean): ProxyEntry[] {
    const ids = [...proxies.keys()].sort();
    const out: ProxyEntry[] = [];
    for (const id of ids) {
      const r = proxies.get(id)!;
      const state = sync(r, now);
      if (state === SyncState.GONE && !includeGone) continue;
      out.push(create(ProxyEntrySchema, { status: r.status, sync: state }));
    }
    return out;
  }

  return {
    recordStatus(status, now) {
      const id = status.id;
      if (id === "") return false;
      const before = proxies.get(id);
      const applied = Number(status.appliedVersion);
      const changed = before === undefined || !isLive(before, now) || differs(before.status, status);
      const appliedSince = before !== undefined && before.applied === applied ? before.appliedSince : now;
      const record: ProxyRecord = { status, seenAt: now, applied, appliedSince };
      proxies.set(id, record);
      const seen = Number(status.version);
      if (status.state === ApplyState.NACK && seen > applied) {
        versionRecord(seen, now).nacks.set(id, status.error);
      }
      if (applied > 0) versionRecord(applied, now);
      for (const [version, v] of versions) {
        if (version <= applied && !v.syncedAt.has(id)) v.syncedAt.set(id, appliedSince);
      }
      freezeConverged(now);
      return changed;
    },
    observeSnapshot(version, at) {
      if (version <= 0) return false;
      const isNew = !versions.has(version);
      versionRecord(version, at);
      const newer = version > latest;
      if (newer) latest = version;
      return isNew || newer;
    },
    latestVersion: () => latest,
    knows: (version) => versions.has(version) || (version > 0 && version <= latest),
    syncOf(id, now) {
      const r = proxies.get(id);
      return r === undefined ? undefined : sync(r, now);
    },
    entries,
    convergence,
    view: (now) => ({ proxies: entries(now, true), latest: convergence(latest, now) }),
    nextTransitionAt(now) {
      let next: number | undefined;
      for (const r of proxies.values()) {
        const t = isLive(r, now) ? goneAt(r) : forgetAt(r);
        if (next === undefined || t < next) next = t;
      }
      return next;
    },
    prune(now) {
      let dropped = false;
      for (const [id, r] of proxies) {
        if (now >= forgetAt(r)) {
          proxies.delete(id);
          dropped = true;
        }
      }
      return dropped;
    },
  };
}

/** True when two reports of one proxy differ in more than their heartbeat time. */
function differs(a: ProxyStatus, b: ProxyStatus): boolean {
  return (
    a.version !== b.version ||
    a.appliedVersion !== b.appliedVersion ||
    a.state !== b.state ||
    a.error !== b.error ||
    a.inFlight !== b.inFlight ||
    a.url !== b.url ||
    a.host !== b.host ||
    a.heartbeatIntervalMs !== b.heartbeatIntervalMs ||
    a.startedAt?.seconds !== b.startedAt?.seconds ||
    a.startedAt?.nanos !== b.startedAt?.nanos
  );
}
