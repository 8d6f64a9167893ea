/**
 * The control plane: admin operations over the store, the snapshot publisher, and startup
 * (bootstrap from a config file when the store is empty; make sure a current snapshot is
 * published). Transport-independent: it only needs a KvStore.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { FleetService } from "../../gen/turnout/v1/fleet_pb.js";
import { MetricsService } from "../../gen/turnout/v1/metrics_pb.js";
import { RolloutService } from "../../gen/turnout/v1/rollout_pb.js";
import { SwitchService } from "../../gen/turnout/v1/switch_pb.js";
import { ExperimentService } from "../../gen/turnout/v1/experiment_pb.js";
import { createExperimentClock } from "./experiments/experiment-clock.ts";
import { createExperimentOperations, type ExperimentOperations } from "./experiments/experiment-operations.ts";
import { createExperimentReports, type ExperimentReports } from "./experiments/experiment-reports.ts";
import { createExperimentService } from "./experiments/experiment-service.ts";
import type { RoutingSnapshot } from "../../gen/turnout/v1/routing_pb.js";
import { ErrorCode, TurnoutError, invalidArgument } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { EventBus, KvStore, OutcomeLog } from "../transport/types.ts";
import { createAdminOperations, type AdminOperations } from "./admin/admin-operations.ts";
import { createAdminService } from "./admin/admin-service.ts";
import { checkDesiredState } from "./publish/compile.ts";
import type { DesiredState } from "./state/desired-state.ts";
import { createConfigEvents } from "./events/config-events.ts";
import { createFleet, type Fleet } from "./fleet/fleet.ts";
import { createFleetService } from "./fleet/fleet-service.ts";
import { createControlMetrics, type ControlMetrics } from "./metrics/control-metrics.ts";
import type { FeedbackHook } from "./metrics/feedback-counter.ts";
import { countStoreErrors } from "./metrics/store-error-counter.ts";
import { normalizeNode, normalizeRoute } from "./admin/normalize.ts";
import { publishSnapshot, type PublishResult } from "./publish/publish.ts";
import { createRolloutEngine, type RolloutEngine, type RolloutEngineOptions } from "./rollout/rollout-engine.ts";
import { createRolloutService } from "./rollout/rollout-service.ts";
import { createStateStore, type StateStore } from "./state/state-store.ts";
import { createVariantWarmer } from "./switch/variant-warmer.ts";
import { createModelSwitcher, type ModelSwitcher } from "./switch/model-switch.ts";
import { createSwitchService } from "./switch/switch-service.ts";
import { validateDesiredState } from "./admin/validate.ts";

/** Options of {@link createControlPlane}. */
export interface ControlPlaneOptions {
  /** Where desired state and the published snapshot live. Not closed by the control plane. */
  store: KvStore;
  /** Root logger; the control plane logs as `component: "control"`. */
  logger: Logger;
  /**
   * Desired state to write when the store holds no nodes and no routes yet (a config file). When
   * the store already holds state it is kept and `bootstrap` is ignored (logged), so restarts keep
   * admin changes. Default: none.
   */
  bootstrap?: DesiredState;
  /** Clock for snapshots' created_at. Default `() => new Date()`. */
  now?: () => Date;
  /**
   * Event bus: with it the control plane tracks the fleet (proxy status reports; FleetService,
   * `wait_for_fleet_ms`) and publishes ConfigChanged / SnapshotPublished events. Default: none.
   */
  bus?: EventBus;
  /**
   * Outcome log to consume (durable consumer `consumerName`) into live metrics: MetricsService
   * and the admin port's `/metrics`. Default: none (metrics stay empty).
   */
  outcomes?: OutcomeLog;
  /**
   * Durable consumer name on `outcomes`: one per control plane (each sees every outcome); reuse it
   * across restarts to resume where the last run acked. Default `control-<host name>`.
   */
  consumerName?: string;
  /**
   * Receives every accepted piece of feedback read from `outcomes` (after a restart, those of the
   * metrics horizon again). Also counted in `turnout_feedback_total`. Default: none.
   */
  onFeedback?: FeedbackHook;
  /**
   * Progressive rollouts (RolloutService): the canary pre-warm and lease timings. The lease owner
   * is `consumerName` plus a per-process suffix. Default: the switch's pre-warm (`createVariantWarmer`), lease 10 s,
   * scan every 1 s.
   */
  rollouts?: Pick<RolloutEngineOptions, "warm" | "leaseMs" | "scanMs">;
}

/** A running control plane. */
export interface ControlPlane {
  /** The admin operations, for in-process callers. */
  readonly admin: AdminOperations;
  /** The AdminService implementation (Connect handlers). */
  readonly service: ServiceImpl<typeof AdminService>;
  /** The fleet as this control plane sees it; undefined without a bus. */
  readonly fleet: Fleet | undefined;
  /** Live metrics from the outcome log (MetricsService, Prometheus text). */
  readonly metrics: ControlMetrics;
  /** The progressive-rollout engine (drives the rollouts whose lease this control plane holds). */
  readonly rollouts: RolloutEngine;
  /** Make-before-break switches (SwitchService, and AdminService.SwitchModel). */
  readonly switcher: ModelSwitcher;
  /** A/B experiments (ExperimentService); running ones are compiled into the snapshot. */
  readonly experiments: ExperimentOperations;
  /** Experiment reports (GetReport, WatchReport) and the feedback input `recordFeedback`. */
  readonly reports: ExperimentReports;
  /** Registers AdminService, SwitchService, MetricsService (and FleetService, with a bus) on a router: `connectNodeAdapter({ routes: controlPlane.routes })`. */
  routes(router: ConnectRouter): void;
  /** The snapshot this control plane published or found last. */
  currentSnapshot(): RoutingSnapshot;
  /** Waits for writes in progress; later operations fail with `unavailable`. */
  close(): Promise<void>;
}

/** Writes `bootstrap` into an empty store (validated and normalised first). */
async function writeBootstrap(store: StateStore, bootstrap: DesiredState): Promise<void> {
  const violations = validateDesiredState(bootstrap);
  if (violations.length > 0) throw invalidArgument(violations);
  const state: DesiredState = {
    nodes: bootstrap.nodes.map(normalizeNode),
    routes: bootstrap.routes.map((r) => normalizeRoute(r)),
    settings: bootstrap.settings,
  };
  const problems = checkDesiredState(state);
  if (problems.length > 0) throw invalidArgument(problems.map((p) => ({ field: p.slice(0, p.indexOf(": ")), message: p.slice(p.indexOf(": ") + 2) })));
  if (state.settings) await store.putSettings(state.settings, 0);
  for (const node of state.nodes) await store.putNode(node, 0);
  for (const route of state.routes) await store.putRoute(route, 0);
}

/**
 * Starts the control plane over `options.store`: applies `bootstrap` to an empty store, then
 * publishes a snapshot of the stored state unless the current one already has that content.
 */
export async function createControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.logger.child({ component: "control" });
  const counted = countStoreErrors(options.store);
  const store = createStateStore(counted.store);
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  let current: RoutingSnapshot | undefined;

  // Fleet and config events, when there is a bus: reports and snapshot versions in, views out.
  const fleet = options.bus && createFleet({ bus: options.bus, store: options.store, logger: options.logger });
  const events = options.bus && createConfigEvents({ bus: options.bus, logger: options.logger, now: options.now });

  // Writes run one at a time (read → validate → CAS-write). A write that asks to publish releases
  // the lock, and its publish waits until the writes queued behind it have written too (or failed),
  // so a burst of edits is debounced into one snapshot without delaying a lone write. A publish
  // never waits longer than MAX_BATCH_MS for a steady stream of writes.
  const MAX_BATCH_MS = 500;
  const WRITE_ATTEMPTS = 10;
  let unsettled = 0; // writes queued or running that have neither asked to publish nor ended
  let running: { release(): void; settle(): void } | undefined;
  let waiting: { since: number; resolve(r: PublishResult): void; reject(e: unknown): void }[] = [];
  let publishing: Promise<void> | undefined;
  let batchTimer: NodeJS.Timeout | undefined;

  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new TurnoutError(ErrorCode.Unavailable, "the control plane is shutting down"));
    unsettled++;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      unsettled--;
      startPublish();
    };
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // A CAS lost to another control plane (no publish asked yet) is re-read and retried; a
    // caller's stale expected_revision fails the same check again and is answered `aborted`.
    const run = chain.then(async () => {
      for (let attempt = 1; ; attempt++) {
        running = { release, settle };
        try {
          return await fn();
        } catch (err) {
          const lostRace = err instanceof TurnoutError && err.code === ErrorCode.Aborted && running?.release === release;
          if (!lostRace || attempt >= WRITE_ATTEMPTS) throw err;
          log.debug({ attempt, err: err.message }, "admin write lost a race; re-reading and retrying");
        }
      }
    });
    const end = () => {
      if (running?.release === release) running = undefined;
      release();
      settle();
    };
    void run.then(end, end);
    chain = released;
    return run;
  }

  /** Publishes the stored state once the current burst of writes has been written. */
  function publish(): Promise<PublishResult> {
    const result = new Promise<PublishResult>((resolve, reject) => waiting.push({ since: Date.now(), resolve, reject }));
    const current = running;
    running = undefined;
    current?.release();
    current?.settle();
    startPublish();
    return result;
  }

  function startPublish(): void {
    if (publishing || waiting.length === 0) return;
    const waited = Date.now() - waiting[0].since;
    if (unsettled > 0 && waited < MAX_BATCH_MS) {
      batchTimer ??= setTimeout(() => {
        batchTimer = undefined;
        startPublish();
      }, MAX_BATCH_MS - waited);
      return;
    }
    clearTimeout(batchTimer);
    batchTimer = undefined;
    const batch = waiting;
    waiting = [];
    publishing = publishNow().then(
      (r) => batch.forEach((w) => w.resolve(r)),
      (e: unknown) => batch.forEach((w) => w.reject(e)),
    ).finally(() => {
      publishing = undefined;
      startPublish();
    });
  }

  async function publishNow(): Promise<PublishResult> {
    const result = await publishSnapshot(store, { logger: log, now: options.now });
    current = result.snapshot;
    if (result.published) {
      const createdAt = result.snapshot.createdAt;
      fleet?.observeSnapshot(Number(result.snapshot.version), createdAt ? timestampMs(createdAt) : Date.now());
      events?.snapshotPublished(result.snapshot);
    }
    return result;
  }

  try {
    await exclusive(async () => {
      const state = await store.readState();
      const empty = state.nodes.length === 0 && state.routes.length === 0;
      if (options.bootstrap !== undefined && empty) {
        await writeBootstrap(store, options.bootstrap);
        log.info({ nodes: options.bootstrap.nodes.length, routes: options.bootstrap.routes.length }, "bootstrapped the store from the config");
      } else if (options.bootstrap !== undefined) {
        log.info(
          { nodes: state.nodes.length, routes: state.routes.length },
          "config not applied: the store already holds state, which is kept (admin changes survive restarts)",
        );
      }
      const result = await publish();
      log.info({ version: Number(result.snapshot.version), published: result.published }, "snapshot ready");
    });
  } catch (err) {
    await fleet?.close();
    throw err;
  }

  const admin = createAdminOperations({ store, exclusive, publish, onChange: events?.configChanged });
  // Switches: pre-warm on the nodes → fleet has the target → shift (admin write) → drain → unload.
  const switcher = createModelSwitcher({ admin, store, fleet, currentSnapshot: () => current, logger: options.logger });
  const service = createAdminService(admin, fleet, switcher);
  const fleetService = fleet && createFleetService(fleet);
  const switchService = createSwitchService(switcher);

  // Experiments: stored at experiments.<id>, running ones compiled into the snapshot; each stops
  // itself when its duration passes (the clock is armed now and after every Start).
  let experimentClock: ReturnType<typeof createExperimentClock> | undefined;
  const experiments = createExperimentOperations({ store, exclusive, publish, admin, now: options.now, onStarted: () => void experimentClock?.schedule() });
  // Reports: outcomes counted in an experiment (from the metrics consumer) into a tally; the
  // rebuild replays the log from the earliest experiment start, so reports survive a restart.
  const reports = createExperimentReports({ ops: experiments, now: options.now && (() => options.now!().getTime()) });

  // Metrics: outcome log entries in (durable consumer), MetricsService windows and Prometheus text out.
  const metrics = createControlMetrics({
    experiments: reports.sink,
    outcomes: options.outcomes,
    consumerName: options.consumerName,
    logger: options.logger,
    snapshotVersion: () => Number(current?.version ?? 0n),
    storeErrors: counted.errors,
    // feedback into its experiment arm's report (keyed by the ref's unit hash), then the caller's hook
    onFeedback: (f) => {
      reports.recordFeedback({ experiment: f.experiment, phase: f.phase, arm: f.arm, unitHash: f.unitHash, metric: f.metric, value: f.value });
      options.onFeedback?.(f);
    },
    // in flight per series: what live proxies reported last (needs the bus)
    inFlight: fleet && ((route, variant) => fleet.inFlight(route, variant)),
  });

  // Rollouts: rollout records, leases and the audit log in the store; metrics windows and fleet
  // convergence in; weights through the admin operations and RolloutEvents on the bus out.
  const rolloutsClosed = new AbortController();
  const rollouts = createRolloutEngine({
    store: options.store,
    admin,
    metrics: { window: (seconds, route) => metrics.aggregator.window(seconds, Date.now(), route) },
    rebuilt: () => metrics.rebuilt(),
    fleet,
    bus: options.bus,
    logger: options.logger,
    owner: options.consumerName && `${options.consumerName}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    ...options.rollouts,
    // the canary is loaded on its nodes before its first step (the switch's pre-warm)
    warm: options.rollouts?.warm ?? createVariantWarmer(store),
  });
  const rolloutService = createRolloutService({ engine: rollouts, admin, closed: rolloutsClosed.signal });

  experimentClock = createExperimentClock({ ops: experiments, logger: log, nowMs: options.now && (() => options.now!().getTime()) });
  await experimentClock.schedule();
  const reportsClosed = new AbortController();
  const experimentService = createExperimentService(experiments, reports, reportsClosed.signal);
  return {
    admin,
    service,
    fleet,
    metrics,
    rollouts,
    switcher,
    experiments,
    reports,
    routes(router) {
      router.service(ExperimentService, experimentService);
      router.service(AdminService, service);
      router.service(SwitchService, switchService);
      router.service(MetricsService, metrics.service);
      router.service(RolloutService, rolloutService);
      if (fleetService) router.service(FleetService, fleetService);
    },
    currentSnapshot() {
      if (current === undefined) throw new TurnoutError(ErrorCode.Unavailable, "no snapshot has been published yet");
      return current;
    },
    async close() {
      if (closed) return;
      closed = true;
      experimentClock?.close();
      reportsClosed.abort();
      await switcher.close();
      rolloutsClosed.abort();
      await rollouts.close();
      await metrics.close();
      await chain;
      while (publishing) await publishing;
      await fleet?.close();
    },
  };
}
