/**
 * The control plane, wired in data-flow order: admin RPCs in → validate → write queue (one write
 * at a time) → state store (CAS) → compile → check → publish at SNAPSHOT_KEY; API keys and the
 * admin audit log live in the same store (the admin server authenticates against them); the
 * workflows (switches, rollouts, experiments) write through the admin operations; the observers
 * (fleet, metrics, config events) watch the bus, the outcome log and what is published.
 * Transport-independent: it only needs a KvStore (and, for the observers, a bus and an outcome
 * log). Shut down in reverse: refuse writes, end the RPC streams, stop the workflows and
 * observers, then let the queued writes and their publish finish.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { ExperimentService } from "../../gen/turnout/v1/experiment_pb.js";
import { KeyService } from "../../gen/turnout/v1/keys_pb.js";
import { FleetService } from "../../gen/turnout/v1/fleet_pb.js";
import { MetricsService } from "../../gen/turnout/v1/metrics_pb.js";
import { RolloutService } from "../../gen/turnout/v1/rollout_pb.js";
import type { RoutingSnapshot } from "../../gen/turnout/v1/routing_pb.js";
import { SwitchService } from "../../gen/turnout/v1/switch_pb.js";
import { ErrorCode, TurnoutError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { EventBus, KvStore, OutcomeLog } from "../transport/types.ts";
import { createAdminOperations, type AdminOperations } from "./admin/admin-operations.ts";
import { createAdminService } from "./admin/admin-service.ts";
import { bootstrapStore } from "./admin/bootstrap-store.ts";
import { createKeyOperations, type KeyOperations } from "./admin/key-operations.ts";
import { createKeyService } from "./admin/key-service.ts";
import { createConfigEvents } from "./events/config-events.ts";
import { createExperimentClock } from "./experiments/experiment-clock.ts";
import { createExperimentOperations, type ExperimentOperations } from "./experiments/experiment-operations.ts";
import { createExperimentReports, type ExperimentReports } from "./experiments/experiment-reports.ts";
import { createExperimentService } from "./experiments/experiment-service.ts";
import { createFleet, type Fleet } from "./fleet/fleet.ts";
import { createFleetService } from "./fleet/fleet-service.ts";
import { createControlMetrics, type ControlMetrics } from "./metrics/control-metrics.ts";
import type { FeedbackHook } from "./metrics/feedback-counter.ts";
import { countStoreErrors } from "./metrics/store-error-counter.ts";
import { createSnapshotPublisher } from "./publish/publish.ts";
import { createWriteQueue } from "./publish/write-queue.ts";
import { createRolloutEngine, type RolloutEngine, type RolloutEngineOptions } from "./rollout/rollout-engine.ts";
import { createRolloutService } from "./rollout/rollout-service.ts";
import { createAuditLog, type AuditLog } from "./state/audit-log.ts";
import { createStateStore } from "./state/state-store.ts";
import type { DesiredState } from "./state/desired-state.ts";
import { createModelSwitcher, type ModelSwitcher } from "./switch/model-switch.ts";
import { createSwitchService } from "./switch/switch-service.ts";
import { createVariantWarmer } from "./switch/variant-warmer.ts";

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
   * Receives every accepted piece of feedback read from `outcomes`, each ref and metric once (after
   * a restart, those of the metrics horizon again). Also counted in `turnout_feedback_total`.
   * Default: none.
   */
  onFeedback?: FeedbackHook;
  /**
   * Progressive rollouts (RolloutService): the canary pre-warm and lease timings. The lease owner
   * is `consumerName` plus a per-process suffix. Default: the switch's pre-warm (`createVariantWarmer`), lease 10 s,
   * scan every 1 s.
   */
  rollouts?: Pick<RolloutEngineOptions, "warm" | "leaseMs" | "scanMs">;
  /** Entries the admin audit log keeps (a ring in the store; older ones are overwritten). Default 5000. */
  auditCapacity?: number;
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
  /** API keys (KeyService), and the reads the admin port authenticates with. */
  readonly keys: KeyOperations;
  /** The admin audit log: the admin port records every write in it; KeyService.ListAuditEntries reads it. */
  readonly audit: AuditLog;
  /**
   * Registers AdminService, SwitchService, ExperimentService, RolloutService, MetricsService,
   * KeyService (and FleetService, with a bus) on a router: `connectNodeAdapter({ routes:
   * controlPlane.routes })`. The admin server guards them (roles, audit).
   */
  routes(router: ConnectRouter): void;
  /** The snapshot this control plane published or found last. */
  currentSnapshot(): RoutingSnapshot;
  /** Waits for writes in progress; later operations fail with `unavailable`. */
  close(): Promise<void>;
}

/** A lease owner unique to this process: `name` plus the pid and a random suffix. */
function leaseOwner(name: string | undefined): string | undefined {
  return name && `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Starts the control plane over `options.store`: applies `bootstrap` to an empty store, then
 * publishes a snapshot of the stored state unless the current one already has that content.
 */
export async function createControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.logger.child({ component: "control" });
  const nowMs = options.now && (() => options.now!().getTime());

  // Store: the KvStore in; every stage below uses it through the error counter
  // (turnout_control_store_errors_total). The typed CAS view of the desired state out.
  const counted = countStoreErrors(options.store);
  const store = createStateStore(counted.store);

  // Fleet and config events (with a bus): proxy reports and the stored snapshot's versions in;
  // the fleet view, ConfigChanged and SnapshotPublished events out.
  const fleet = options.bus && createFleet({ bus: options.bus, store: counted.store, logger: options.logger });
  const events = options.bus && createConfigEvents({ bus: options.bus, logger: options.logger, now: options.now });

  // Publish: the stored state in → compile → check → CAS write at SNAPSHOT_KEY (a no-op for the
  // same content); each new snapshot out to the fleet view and the events.
  const publisher = createSnapshotPublisher({
    store,
    logger: log,
    now: options.now,
    onPublished(snapshot) {
      fleet?.observeSnapshot(Number(snapshot.version), snapshot.createdAt ? timestampMs(snapshot.createdAt) : Date.now());
      events?.snapshotPublished(snapshot);
    },
  });

  // Write queue: writes in, one at a time (lost races retried); a burst's publishes out as one.
  const queue = createWriteQueue({ publish: publisher.publish, logger: log });

  // Bootstrap: the config in (written only into an empty store); a current published snapshot out.
  try {
    await bootstrapStore({ store, queue, bootstrap: options.bootstrap, logger: log });
  } catch (err) {
    await fleet?.close();
    throw err;
  }

  // Admin: validated requests in; checked CAS writes through the queue and ConfigChanged out.
  const admin = createAdminOperations({
    store,
    exclusive: queue.exclusive,
    publish: queue.publish,
    onChange: events?.configChanged,
  });

  // Keys: validated key requests in; CAS writes of `keys.<id>` through the queue (compiled into
  // the snapshot, hashes only) and ConfigChanged out. Audit log: the admin port's records of
  // every write, a bounded ring in the store.
  const keys = createKeyOperations({
    store,
    exclusive: queue.exclusive,
    publish: queue.publish,
    onChange: events?.configChanged,
    now: nowMs,
  });
  const audit = createAuditLog({ kv: counted.store, capacity: options.auditCapacity });

  // Experiments: stored at experiments.<id> (running ones are compiled into the snapshot); each
  // stops itself when its duration passes (the clock is armed below and after every Start).
  // Reports: the outcomes counted in an experiment into a tally; the rebuild replays the log from
  // the earliest experiment start, so reports survive a restart.
  let experimentClock: ReturnType<typeof createExperimentClock> | undefined;
  const experiments = createExperimentOperations({
    store,
    exclusive: queue.exclusive,
    publish: queue.publish,
    admin,
    now: options.now,
    onStarted: () => void experimentClock?.schedule(),
  });
  const reports = createExperimentReports({ ops: experiments, now: nowMs });

  // Metrics: outcome log entries in (durable consumer); MetricsService windows, experiment
  // tallies, feedback into its arm's report (then the caller's hook) and Prometheus text out.
  const metrics = createControlMetrics({
    experiments: reports.sink,
    outcomes: options.outcomes,
    consumerName: options.consumerName,
    logger: options.logger,
    snapshotVersion: () => Number(publisher.current()?.version ?? 0n),
    storeErrors: counted.errors,
    onFeedback: (f) => {
      reports.recordFeedback({
        experiment: f.experiment,
        phase: f.phase,
        arm: f.arm,
        unitHash: f.unitHash,
        metric: f.metric,
        value: f.value,
      });
      options.onFeedback?.(f);
    },
    // in flight per series: what live proxies reported last (needs the bus)
    inFlight: fleet && ((route, variant) => fleet.inFlight(route, variant)),
  });

  // Rollouts: rollout records, leases and the audit log in the store; metrics windows and fleet
  // convergence in; weights through the admin operations and RolloutEvents on the bus out. The
  // canary is loaded on its nodes before its first step (the switch's pre-warm).
  const rollouts = createRolloutEngine({
    store: counted.store,
    admin,
    metrics: { window: (seconds, route) => metrics.aggregator.window(seconds, Date.now(), route) },
    rebuilt: () => metrics.rebuilt(),
    fleet,
    bus: options.bus,
    logger: options.logger,
    owner: leaseOwner(options.consumerName),
    ...options.rollouts,
    warm: options.rollouts?.warm ?? createVariantWarmer(store),
  });

  // Switches: pre-warm on the nodes → fleet has the target → shift (admin write) → drain → unload.
  const switcher = createModelSwitcher({ admin, store, fleet, currentSnapshot: publisher.current, logger: options.logger });

  experimentClock = createExperimentClock({ ops: experiments, logger: log, nowMs });
  await experimentClock.schedule();

  // Services: Connect requests in, the stages above answer; the signals end their streams.
  const streamsClosed = new AbortController();
  const service = createAdminService(admin, fleet, switcher);
  const fleetService = fleet && createFleetService(fleet);
  const switchService = createSwitchService(switcher);
  const rolloutService = createRolloutService({ engine: rollouts, admin, closed: streamsClosed.signal });
  const experimentService = createExperimentService(experiments, reports, streamsClosed.signal);
  const keyService = createKeyService(keys, audit);

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    const drained = queue.close(); // later writes fail with `unavailable` from now on
    streamsClosed.abort();
    experimentClock?.close();
    await switcher.close();
    await rollouts.close();
    await metrics.close();
    await drained;
    await fleet?.close();
  }
  return {
    admin,
    service,
    fleet,
    metrics,
    rollouts,
    switcher,
    experiments,
    reports,
    keys,
    audit,
    routes(router) {
      router.service(ExperimentService, experimentService);
      router.service(AdminService, service);
      router.service(SwitchService, switchService);
      router.service(MetricsService, metrics.service);
      router.service(RolloutService, rolloutService);
      router.service(KeyService, keyService);
      if (fleetService) router.service(FleetService, fleetService);
    },
    currentSnapshot() {
      const current = publisher.current();
      if (current === undefined) throw new TurnoutError(ErrorCode.Unavailable, "no snapshot has been published yet");
      return current;
    },
    close: () => (closing ??= close()),
  };
}
