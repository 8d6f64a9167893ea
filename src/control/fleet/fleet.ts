/**
 * The live fleet: proxy status reports from the bus (`SUBJECTS.proxyStatusAll`) and snapshot
 * versions from the store's SNAPSHOT_KEY watch in, the fleet view out. Every control plane runs
 * one, so each sees every publish and every proxy, whoever published. The state rules live in the
 * pure tracker (fleet-tracker.ts); this part adds the clock, a timer for GONE transitions, change
 * notifications, `waitForConvergence` and a watch of views.
 */
import { fromBinary, fromJsonString } from "@bufbuild/protobuf";
import { ProxyStatusSchema } from "../../../gen/turnout/v1/events_pb.js";
import type { Convergence, ProxyEntry } from "../../../gen/turnout/v1/fleet_pb.js";
import { RoutingSnapshotSchema } from "../../../gen/turnout/v1/routing_pb.js";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { SNAPSHOT_KEY, SUBJECTS, type EventBus, type KvStore } from "../../transport/types.ts";
import { createFleetTracker, type FleetTrackerOptions, type FleetView } from "./fleet-tracker.ts";
import { delay } from "../../delay.ts";

/** Options of {@link createFleet}. */
export interface FleetOptions extends FleetTrackerOptions {
  /** Bus the proxies report on. */
  bus: EventBus;
  /** Store whose SNAPSHOT_KEY is watched for new versions. Not closed by the fleet. */
  store: KvStore;
  logger: Logger;
  /** Clock, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Delay before re-watching the store after the watch fails, in ms. Default 1000. */
  rewatchDelayMs?: number;
}

/** The fleet as one control plane sees it. */
export interface Fleet {
  /** Proxies sorted by id; GONE ones only with `includeGone`. */
  proxies(includeGone?: boolean): ProxyEntry[];
  /** The view now (GONE proxies included) with the latest version's convergence. */
  view(): FleetView;
  /** Convergence of `version` (0 = the latest). Throws `not_found` for a version never seen. */
  convergence(version?: number): Convergence;
  /** The latest snapshot version seen (0 before any). */
  latestVersion(): number;
  /**
   * Requests in flight on (`route`, `variant`): the sum over live proxies of their last report's
   * `in_flight_by_series` (as fresh as the heartbeat interval).
   */
  inFlight(route: string, variant: string): number;
  /** Records a snapshot this control plane published, with its publish time (ms). */
  observeSnapshot(version: number, at: number): void;
  /**
   * Resolves with the convergence of `version` once every live proxy serves it (or newer).
   * Rejects with `deadline_exceeded` after `deadlineMs` (naming the synced and live counts), or
   * with the signal's reason.
   */
  waitForConvergence(version: number, deadlineMs: number, signal?: AbortSignal): Promise<Convergence>;
  /**
   * Yields the view at once, then after every change, at most once per `coalesceMs` (a burst of
   * reports becomes one view), until `signal` aborts.
   */
  watch(signal: AbortSignal, coalesceMs?: number): AsyncGenerator<FleetView>;
  /** Stops listening; watches end. */
  close(): Promise<void>;
}

const decoder = new TextDecoder();

/** Starts following the fleet. */
export function createFleet(options: FleetOptions): Fleet {
  const { bus, store } = options;
  const log = options.logger.child({ component: "fleet" });
  const now = options.now ?? Date.now;
  const tracker = createFleetTracker(options);
  const controller = new AbortController();
  const closed = controller.signal;
  let listeners = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;

  /** Wakes every waiter and re-arms the GONE timer. */
  function changed(): void {
    const woken = listeners;
    listeners = new Set();
    for (const wake of woken) wake();
    schedule();
  }

  function schedule(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (closed.aborted) return;
    const at = tracker.nextTransitionAt(now());
    if (at === undefined) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        tracker.prune(now());
        changed();
      },
      Math.max(0, at - now()) + 1,
    );
    timer.unref();
  }

  /** Resolves at the next change, or when `signal` or the fleet closes. */
  function nextChange(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (closed.aborted || signal?.aborted) return resolve();
      const done = () => {
        listeners.delete(done);
        signal?.removeEventListener("abort", done);
        closed.removeEventListener("abort", done);
        resolve();
      };
      listeners.add(done);
      signal?.addEventListener("abort", done, { once: true });
      closed.addEventListener("abort", done, { once: true });
    });
  }

  // Reports: ProxyStatus JSON from every proxy.
  const reports = (async () => {
    for await (const message of bus.subscribe(SUBJECTS.proxyStatusAll, closed)) {
      try {
        const status = fromJsonString(ProxyStatusSchema, decoder.decode(message.data), { ignoreUnknownFields: true });
        if (tracker.recordStatus(status, now())) changed();
      } catch (err) {
        log.warn({ err, subject: message.subject }, "ignored a malformed proxy status");
      }
    }
  })().catch((err: unknown) => {
    if (!closed.aborted) log.error({ err }, "fleet status subscription ended");
  });

  // Snapshots: every version published at SNAPSHOT_KEY, by any control plane.
  const snapshots = (async () => {
    let lastRevision = 0;
    while (!closed.aborted) {
      try {
        for await (const entry of store.watch(SNAPSHOT_KEY, closed)) {
          if (entry.deleted || entry.revision <= lastRevision) continue;
          lastRevision = entry.revision;
          let version: number;
          try {
            version = Number(fromBinary(RoutingSnapshotSchema, entry.value).version);
          } catch {
            log.warn({ revision: entry.revision }, "the stored snapshot does not decode; its version is unknown");
            continue;
          }
          if (tracker.observeSnapshot(version, now())) changed();
        }
      } catch (err) {
        if (closed.aborted) break;
        log.warn({ err }, "snapshot watch failed; retrying");
      }
      await delay(options.rewatchDelayMs ?? 1000, closed);
    }
  })();

  function convergence(version = 0): Convergence {
    const v = version === 0 ? tracker.latestVersion() : version;
    if (version !== 0 && !tracker.knows(v))
      throw new TurnoutError(
        ErrorCode.NotFound,
        `snapshot version ${v} has not been seen by this control plane (latest is ${tracker.latestVersion()})`,
      );
    return tracker.convergence(v, now());
  }

  return {
    proxies: (includeGone = false) => tracker.entries(now(), includeGone),
    view: () => tracker.view(now()),
    convergence,
    latestVersion: () => tracker.latestVersion(),
    inFlight(route, variant) {
      let sum = 0;
      for (const entry of tracker.entries(now(), false)) {
        for (const s of entry.status?.inFlightBySeries ?? []) if (s.route === route && s.variant === variant) sum += s.inFlight;
      }
      return sum;
    },
    observeSnapshot(version, at) {
      if (tracker.observeSnapshot(version, at)) changed();
    },
    async waitForConvergence(version, deadlineMs, signal) {
      const deadline = AbortSignal.timeout(deadlineMs);
      const stop = signal === undefined ? deadline : AbortSignal.any([deadline, signal]);
      for (;;) {
        const c = tracker.convergence(version, now());
        if (c.converged) return c;
        if (signal?.aborted) throw signal.reason;
        if (closed.aborted) throw new TurnoutError(ErrorCode.Unavailable, "the control plane is shutting down");
        if (deadline.aborted)
          throw new TurnoutError(ErrorCode.DeadlineExceeded, notConvergedMessage(c, deadlineMs, tracker.entries(now(), false)));
        await nextChange(stop);
      }
    },
    async *watch(signal, coalesceMs = 100) {
      const stop = AbortSignal.any([signal, closed]);
      let last = -Infinity;
      while (!stop.aborted) {
        const wait = last + coalesceMs - now();
        if (wait > 0) await delay(wait, stop);
        if (stop.aborted) return;
        const next = nextChange(stop);
        last = now();
        yield tracker.view(last);
        await next;
      }
    },
    async close() {
      if (closed.aborted) return;
      controller.abort();
      if (timer !== undefined) clearTimeout(timer);
      changed();
      await Promise.all([reports, snapshots]);
    },
  };
}

/** The DeadlineExceeded message: how far the version got, and why not further. */
function notConvergedMessage(c: Convergence, deadlineMs: number, live: ProxyEntry[]): string {
  const version = Number(c.version);
  let message = `snapshot version ${version} is accepted but reached only ${c.synced} of ${c.live} live proxies within ${deadlineMs} ms (${c.stale} stale, ${c.nacked} nacked)`;
  if (c.live === 0) message = `snapshot version ${version} is accepted but no live proxy reported within ${deadlineMs} ms`;
  const nack = live.find((e) => e.status !== undefined && e.status.error !== "" && Number(e.status.version) >= version);
  if (nack !== undefined) message += `; proxy ${nack.status!.id} rejected it: ${nack.status!.error}`;
  return `${message}; it keeps spreading (see FleetService.ListProxies)`;
}
