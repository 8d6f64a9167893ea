/**
 * Per-key limits, held fleet-wide: requests per minute, tokens per minute and requests in flight
 * of each client key, counted by this proxy in sliding windows (usage-window.ts) and added to what
 * the other live proxies last reported (key-usage-sharing.ts carries the reports over the bus).
 *
 * Requests per minute also take a lease: with other proxies live, a proxy may start at most its
 * lease of a key's requests before its next report, where each report grants a new lease of
 * ⌈(limit − counted) / (proxies + silent proxies)⌉ — `counted` being this proxy's window, the
 * others' reported windows and the leases they announced; `silent proxies` the live ones that
 * announced no lease of the key (it was not asked for there within the last second), which might
 * start using it at once (each is assumed to take a lease as large). So the requests the fleet can
 * start between two reports never add up to more than what the limit leaves, however fast they
 * come: a fleet overshoots only by what a report's delay lets through, not by the request rate
 * times the delay. A key used on one proxy only gets the whole limit after a few reports (each
 * lease a share of what is left); a request over the lease while the fleet is below the limit
 * waits for the next one (client-auth.ts). Alone (no bus, or every peer silent for three of its
 * refresh intervals: NATS down) a proxy enforces every limit by itself, exactly.
 *
 * Tokens per minute count the prompt and completion tokens the upstream reported, when a request
 * ends, so requests in flight when the limit is reached may take it past; a concurrency limit
 * counts this proxy's requests in flight and the others' last reported ones.
 */
import type { CompiledLimits } from "./compiled-key.ts";
import { UsageWindow } from "./usage-window.ts";

/** What {@link KeyLimiter.admit} decided. */
export const Admission = {
  Admitted: 0,
  /** requests_per_minute reached (fleet-wide). */
  Requests: 1,
  /** tokens_per_minute reached. */
  Tokens: 2,
  /** max_concurrent reached. */
  Concurrency: 3,
  /** Below the limit, but this proxy used its lease: the next report (a sharing interval) grants a new one. */
  Lease: 4,
} as const;
export type Admission = (typeof Admission)[keyof typeof Admission];

/** One key's use as one proxy reports it. */
export interface PeerKeyUse {
  readonly id: string;
  /** Requests started within the window. */
  readonly requests: number;
  /** Requests the proxy may still start before its next report. */
  readonly lease: number;
  /** Tokens used within the window. */
  readonly tokens: number;
  readonly inFlight: number;
}

/** A key's counters on this proxy: its own windows, and the sums of the live peers' last reports. */
export class KeyUse {
  readonly id: string;
  readonly requests: UsageWindow;
  readonly tokens: UsageWindow;
  private readonly clock: () => number;
  inFlight = 0;
  othersRequests = 0;
  othersLease = 0;
  othersTokens = 0;
  othersInFlight = 0;
  /** Live peers whose last report names the key. */
  reportingPeers = 0;
  /** Live peers whose last report announced a lease of the key (the others may take one unannounced). */
  leasingPeers = 0;
  /** Requests of the key waiting here for this proxy's next lease. */
  waiting = 0;
  /** Requests this proxy may still start before its next report (only used with live peers). */
  lease = 0;
  /** A lease was granted since the last report. */
  leased = false;
  /** The key's requests-per-minute limit when it was last used here (for the leases granted on ticks). */
  requestsPerMinute = 0;
  /** `clock()` of the key's last request here; -Infinity for none. */
  demandAt = Number.NEGATIVE_INFINITY;

  constructor(id: string, windowMs: number, clock: () => number) {
    this.id = id;
    this.requests = new UsageWindow(windowMs);
    this.tokens = new UsageWindow(windowMs);
    this.clock = clock;
  }

  /** An admitted request ended having used `tokens` (prompt + completion; 0 when unknown). */
  finish(tokens: number): void {
    this.inFlight--;
    if (tokens > 0) this.tokens.add(this.clock(), tokens);
  }
}

/** How recently a key must have been asked for on a proxy for it to take a lease on a tick, in ms. */
const RECENT_DEMAND_MS = 1000;

interface Peer {
  expiresAt: number;
  uses: readonly PeerKeyUse[];
}

/** Options of {@link KeyLimiter}. */
export interface KeyLimiterOptions {
  /**
   * The window the per-minute limits count over, in ms. Default 60000. Shorter only in tests and
   * benchmarks: a limit of N per minute then allows N per window.
   */
  windowMs?: number;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
}

/** The per-key limits of one proxy. */
export class KeyLimiter {
  readonly windowMs: number;
  readonly now: () => number;
  /** Counters by key id (keys used here or reported by a peer). */
  private readonly uses = new Map<string, KeyUse>();
  private readonly peers = new Map<string, Peer>();
  /** `now()` of the last tick and the interval between ticks (for the Retry-After of a used lease). */
  private lastTickAt = 0;
  private tickIntervalMs = 0;

  constructor(options: KeyLimiterOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? (() => performance.now());
  }

  /** Other proxies whose usage reports are live. */
  livePeers(): number {
    return this.peers.size;
  }

  /** The counters of key `id` (made on first use). */
  useOf(id: string): KeyUse {
    let use = this.uses.get(id);
    if (use === undefined) {
      use = new KeyUse(id, this.windowMs, this.now);
      this.uses.set(id, use);
    }
    return use;
  }

  /**
   * Admits one request of the key counted by `use` under `limits`, or says which limit refuses it.
   * An admitted request is counted at once; call `use.finish(tokens)` when it ends.
   */
  admit(use: KeyUse, limits: CompiledLimits): Admission {
    const now = this.now();
    use.demandAt = now;
    const rpm = limits.requestsPerMinute;
    const shared = this.peers.size > 0;
    if (rpm > 0) {
      use.requestsPerMinute = rpm;
      use.requests.advance(now);
      if (use.requests.total + use.othersRequests >= rpm) return Admission.Requests;
      if (shared) {
        if (!use.leased) this.grantLease(use);
        if (use.lease < 1) return Admission.Lease;
      }
    }
    if (limits.tokensPerMinute > 0) {
      use.tokens.advance(now);
      if (use.tokens.total + use.othersTokens >= limits.tokensPerMinute) return Admission.Tokens;
    }
    if (limits.maxConcurrent > 0 && use.inFlight + use.othersInFlight >= limits.maxConcurrent) return Admission.Concurrency;
    if (rpm > 0) {
      use.requests.add(now, 1);
      if (shared) use.lease--;
    }
    use.inFlight++;
    return Admission.Admitted;
  }

  /** Ms until a request refused for `why` may be admitted (at least 1). */
  retryAfterMs(use: KeyUse, why: Admission): number {
    const now = this.now();
    let ms: number;
    // Just after the next tick (its new lease).
    if (why === Admission.Lease) ms = this.tickIntervalMs - (now - this.lastTickAt) + 1;
    else if (why === Admission.Concurrency) ms = 1000;
    else {
      const w = why === Admission.Tokens ? use.tokens : use.requests;
      w.advance(now);
      // What the others counted may leave sooner or later; their slots are not known here.
      ms = w.msUntilOldestLeaves(now) || w.slotMs;
    }
    return Math.max(1, Math.ceil(ms));
  }

  /** The lease of the next sharing interval for `use` (see the module comment). */
  private grantLease(use: KeyUse): void {
    const peers = this.peers.size;
    const silent = peers - use.leasingPeers;
    const counted = use.requests.total + use.othersRequests + use.othersLease;
    use.lease = Math.max(0, Math.ceil((use.requestsPerMinute - counted) / (1 + peers + silent)));
    use.leased = true;
  }

  /**
   * Before each usage report (every `intervalMs`): drops peers whose reports expired, grants new
   * leases to the keys asked for within the last second, forgets idle keys, and answers this
   * proxy's use of every key active here (counted in the window, in flight or just asked for),
   * for the report.
   */
  tick(intervalMs: number): PeerKeyUse[] {
    const now = this.now();
    this.lastTickAt = now;
    this.tickIntervalMs = intervalMs;
    for (const [id, peer] of this.peers) if (peer.expiresAt <= now) this.forgetPeer(id);
    const out: PeerKeyUse[] = [];
    for (const [id, use] of this.uses) {
      use.requests.advance(now);
      use.tokens.advance(now);
      const recent = now - use.demandAt < RECENT_DEMAND_MS;
      if (recent && use.requestsPerMinute > 0 && this.peers.size > 0) this.grantLease(use);
      else {
        // No lease announced: a request that comes takes one at once (the others count it as
        // the lease this proxy may take unannounced).
        use.lease = 0;
        use.leased = false;
      }
      if (!recent && use.inFlight === 0 && use.requests.total === 0 && use.tokens.total === 0) {
        if (use.reportingPeers === 0 && use.waiting === 0) this.uses.delete(id);
        continue;
      }
      out.push({
        id,
        requests: use.requests.total,
        lease: use.lease,
        // The report's field is 32 bits; no minute holds more tokens than that.
        tokens: Math.min(use.tokens.total, 0xffff_ffff),
        inFlight: use.inFlight,
      });
    }
    return out;
  }

  /** Takes peer `peerId`'s report (it replaces the previous one); it counts for `ttlMs`. */
  applyPeerReport(peerId: string, uses: readonly PeerKeyUse[], ttlMs: number): void {
    this.forgetPeer(peerId);
    for (const u of uses) {
      const use = this.useOf(u.id);
      use.othersRequests += u.requests;
      use.othersLease += u.lease;
      use.othersTokens += u.tokens;
      use.othersInFlight += u.inFlight;
      use.reportingPeers++;
      if (u.lease > 0) use.leasingPeers++;
    }
    this.peers.set(peerId, { expiresAt: this.now() + ttlMs, uses });
  }

  /** Drops what peer `peerId` reported (it stopped, or its reports expired). */
  forgetPeer(peerId: string): void {
    const peer = this.peers.get(peerId);
    if (peer === undefined) return;
    this.peers.delete(peerId);
    for (const u of peer.uses) {
      const use = this.uses.get(u.id);
      if (use === undefined) continue;
      use.othersRequests -= u.requests;
      use.othersLease -= u.lease;
      use.othersTokens -= u.tokens;
      use.othersInFlight -= u.inFlight;
      use.reportingPeers--;
      if (u.lease > 0) use.leasingPeers--;
    }
  }
}
