/**
 * The experiment write path: Create (a DRAFT, no publish), Start / resume, Pause, Stop, Conclude,
 * and the self-stop of experiments whose duration has passed. Every write runs in the control
 * plane's `exclusive` section: read the state → change the experiment in memory → check the
 * WHOLE resulting snapshot → CAS-write the experiment → publish. A refused write changes nothing.
 *
 * Layer buckets are allocated at Start against the layer's RUNNING and PAUSED experiments
 * (`allocateLayer`, so theirs stay put) and stored in the experiment; Stop and Conclude free them.
 * The first Start opens phase 0 with seed "<id>:0" and sets ends_at = now + duration. ChangeSplit
 * ends the current phase and opens the next with the new weights, keeping the seed (users stay
 * where their buckets stay, publish/experiment-snapshots.ts) or, to re-randomise, with seed "<id>:<n>".
 */
import { clone } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { randomBytes } from "node:crypto";
import {
  ExperimentLayerRangeSchema,
  ExperimentPhaseSchema,
  ExperimentSchema,
  ExperimentStatus,
  type Experiment,
  type ExperimentServiceCreateRequest,
} from "../../../gen/turnout/v1/experiment_pb.js";
import { create } from "@bufbuild/protobuf";
import { allocateLayer } from "../../assign/layers.ts";
import { ErrorCode, TurnoutError, formatViolations, invalidArgument, type FieldViolation } from "../../errors.ts";
import type { AdminOperations } from "../admin/admin-operations.ts";
import { checkDesiredState, desiredOf } from "../publish/compile.ts";
import type { PublishResult } from "../publish/publish.ts";
import type { StateStore, Stored, StoredState } from "../state/state-store.ts";
import { checkExpectedRevision } from "../admin/write-guard.ts";
import { EXPERIMENT_ID, experimentDurationMs, experimentFromRequest, idFromName } from "./experiment-input.ts";

/** A stored experiment and, for writes that publish, the snapshot version that carries it. */
export interface ExperimentResult {
  experiment: Experiment;
  revision: number;
  snapshotVersion: number;
}

/** The experiment operations of the control plane. */
export interface ExperimentOperations {
  create(req: ExperimentServiceCreateRequest): Promise<ExperimentResult>;
  start(id: string, expectedRevision?: number): Promise<ExperimentResult>;
  pause(id: string, expectedRevision?: number): Promise<ExperimentResult>;
  stop(id: string, expectedRevision?: number): Promise<ExperimentResult>;
  /** Switches the route to the winning arm's variant (a write by `keyId`, default "system"), then concludes. */
  conclude(id: string, arm: string, expectedRevision?: number, keyId?: string): Promise<ExperimentResult>;
  /** Opens a new phase with `weights` (empty: the current ones), re-randomised when asked. */
  changeSplit(id: string, weights: readonly number[], rerandomize: boolean, expectedRevision?: number): Promise<ExperimentResult>;
  get(id: string): Promise<Stored<Experiment>>;
  list(route?: string): Promise<Stored<Experiment>[]>;
  /** Stops every RUNNING experiment whose ends_at has passed; answers their ids. */
  stopExpired(): Promise<string[]>;
  /** The earliest ends_at (ms) of a RUNNING experiment, or undefined when none runs. */
  nextEnd(): Promise<number | undefined>;
}

/** What the operations need from the control plane. */
export interface ExperimentOperationsContext {
  store: StateStore;
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  publish(): Promise<PublishResult>;
  /** For Conclude: the route's default variant is switched through the admin write path. */
  admin: AdminOperations;
  /** Clock. Default `() => new Date()`. */
  now?: () => Date;
  /** Told after every accepted Start/resume (to reschedule the self-stop). Default: none. */
  onStarted?: () => void;
}

const { RUNNING, PAUSED, DRAFT, STOPPED, CONCLUDED } = ExperimentStatus;
const STATUS_NAME: Record<number, string> = {
  [DRAFT]: "DRAFT",
  [RUNNING]: "RUNNING",
  [PAUSED]: "PAUSED",
  [STOPPED]: "STOPPED",
  [CONCLUDED]: "CONCLUDED",
};

function requireId(id: string): void {
  if (!EXPERIMENT_ID.test(id))
    throw invalidArgument([
      { field: "id", message: id === "" ? "must not be empty" : `${JSON.stringify(id)} is not an experiment id` },
    ]);
}

function precondition(e: Experiment, action: string, allowed: readonly number[]): void {
  if (allowed.includes(e.status)) return;
  throw new TurnoutError(
    ErrorCode.FailedPrecondition,
    `experiment ${JSON.stringify(e.id)} is ${STATUS_NAME[e.status] ?? "in an unknown state"}; it can be ${action} only when ${allowed.map((s) => STATUS_NAME[s]).join(" or ")}`,
  );
}

/** What is wrong with a ChangeSplit of `e` to `weights` (empty: keep `current`), by field. */
function splitProblems(
  e: Experiment,
  weights: readonly number[],
  rerandomize: boolean,
  current: readonly number[],
): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (weights.length === 0) {
    if (!rerandomize)
      out.push({
        field: "weights",
        message: "must give a weight per arm (or set rerandomize to keep the split under a new seed)",
      });
    return out;
  }
  if (weights.length !== e.arms.length) {
    out.push({
      field: "weights",
      message: `must give one weight per arm (${e.arms.map((a) => a.name).join(", ")}), got ${weights.length}`,
    });
    return out;
  }
  weights.forEach((w, i) => {
    if (!Number.isFinite(w) || w < 0) out.push({ field: `weights[${i}]`, message: `must be a non-negative number, got ${w}` });
  });
  if (out.length === 0 && weights.reduce((a, b) => a + b, 0) <= 0)
    out.push({ field: "weights", message: "must sum to more than 0" });
  if (out.length === 0 && !rerandomize && weights.every((w, i) => w === current[i])) {
    out.push({
      field: "weights",
      message: `are the current split (${current.join("/")}); nothing would change (set rerandomize for a new seed)`,
    });
  }
  return out;
}

/** Creates the experiment operations over a control plane's store and publisher. */
export function createExperimentOperations(ctx: ExperimentOperationsContext): ExperimentOperations {
  const { store, exclusive, publish } = ctx;
  const now = ctx.now ?? (() => new Date());

  async function find(state: StoredState, id: string): Promise<Stored<Experiment>> {
    const found = state.experiments.find((e) => e.value.id === id);
    if (found === undefined) throw new TurnoutError(ErrorCode.NotFound, `experiment ${JSON.stringify(id)} does not exist`);
    return found;
  }

  /** Checks the state with `next` in place of its stored self, writes it (CAS) and publishes. */
  async function commit(
    state: StoredState,
    existing: Stored<Experiment>,
    next: Experiment,
    action: string,
  ): Promise<ExperimentResult> {
    const experiments = state.experiments.map((e) => (e.value.id === next.id ? { value: next, revision: e.revision } : e));
    const problems = checkDesiredState(desiredOf({ ...state, experiments }));
    if (problems.length > 0) {
      const text = formatViolations(problems);
      throw new TurnoutError(
        ErrorCode.FailedPrecondition,
        `${action} experiment ${JSON.stringify(next.id)} would leave the routing state inconsistent: ${text}`,
        { violations: problems },
      );
    }
    const revision = await store.putExperiment(next, existing.revision);
    return { experiment: next, revision, snapshotVersion: Number((await publish()).snapshot.version) };
  }

  function endPhase(e: Experiment, at: Date, status: number, reason: string): void {
    const phase = e.phases[e.phases.length - 1];
    if (phase !== undefined && phase.endedAt === undefined) phase.endedAt = timestampFromDate(at);
    e.status = status as ExperimentStatus;
    e.endReason = reason;
    e.layerRanges = [];
  }

  async function stopWith(id: string, expected: number | undefined, reason: string): Promise<ExperimentResult> {
    requireId(id);
    return exclusive(async () => {
      const state = await store.readState();
      const existing = await find(state, id);
      checkExpectedRevision(`experiment ${JSON.stringify(id)}`, existing.revision, expected);
      precondition(existing.value, "stopped", [DRAFT, RUNNING, PAUSED]);
      const next = clone(ExperimentSchema, existing.value);
      endPhase(next, now(), STOPPED, reason);
      return commit(state, existing, next, "stopping");
    });
  }

  return {
    async create(req) {
      return exclusive(async () => {
        const state = await store.readState();
        const experiment = experimentFromRequest(
          req,
          desiredOf(state).routes,
          idFromName(req.name, () => randomBytes(2).toString("hex")),
          now(),
        );
        if (state.experiments.some((e) => e.value.id === experiment.id)) {
          throw new TurnoutError(ErrorCode.AlreadyExists, `experiment ${JSON.stringify(experiment.id)} already exists`);
        }
        const revision = await store.putExperiment(experiment, 0);
        return { experiment, revision, snapshotVersion: Number((await store.readSnapshot())?.value.version ?? 0n) };
      });
    },
    async start(id, expected) {
      requireId(id);
      const result = await exclusive(async () => {
        const state = await store.readState();
        const existing = await find(state, id);
        checkExpectedRevision(`experiment ${JSON.stringify(id)}`, existing.revision, expected);
        precondition(existing.value, "started", [DRAFT, PAUSED]);
        const at = now();
        const next = clone(ExperimentSchema, existing.value);
        if (next.status === PAUSED && next.endsAt !== undefined && timestampDate(next.endsAt).getTime() <= at.getTime()) {
          throw new TurnoutError(
            ErrorCode.FailedPrecondition,
            `experiment ${JSON.stringify(id)} cannot resume: its duration ${next.duration} has passed`,
          );
        }
        // The layer's other holders keep their buckets; this experiment takes its share of the rest.
        const holders = state.experiments
          .map((e) => e.value)
          .filter((e) => e.id !== id && e.layer === next.layer && (e.status === RUNNING || e.status === PAUSED));
        const slots = [...holders, next].map((e) => ({
          experiment: e.id,
          percent: e.layerPercent,
          ranges: e.layerRanges.map((r) => ({ start: r.start, end: r.end })),
        }));
        let allocated;
        try {
          allocated = allocateLayer(
            slots.filter((s) => s.ranges.length > 0),
            slots,
          );
        } catch (err) {
          const taken = holders.reduce((sum, e) => sum + e.layerPercent, 0);
          throw new TurnoutError(
            ErrorCode.FailedPrecondition,
            `layer ${JSON.stringify(next.layer)} has ${Math.max(0, 100 - taken)}% free (held by ${holders.map((e) => `${e.id} ${e.layerPercent}%`).join(", ")}), experiment ${JSON.stringify(id)} needs ${next.layerPercent}%`,
            { cause: err },
          );
        }
        next.layerRanges = allocated[allocated.length - 1].ranges.map((r) => create(ExperimentLayerRangeSchema, r));
        if (next.status === DRAFT) {
          next.phases = [
            create(ExperimentPhaseSchema, {
              seed: `${id}:0`,
              startedAt: timestampFromDate(at),
              weights: next.arms.map((a) => a.weight),
            }),
          ];
          next.startedAt = timestampFromDate(at);
          next.endsAt = timestampFromDate(new Date(at.getTime() + experimentDurationMs(next.duration)));
        }
        next.status = RUNNING;
        return commit(state, existing, next, "starting");
      });
      ctx.onStarted?.();
      return result;
    },
    async pause(id, expected) {
      requireId(id);
      return exclusive(async () => {
        const state = await store.readState();
        const existing = await find(state, id);
        checkExpectedRevision(`experiment ${JSON.stringify(id)}`, existing.revision, expected);
        precondition(existing.value, "paused", [RUNNING]);
        const next = clone(ExperimentSchema, existing.value);
        next.status = PAUSED;
        return commit(state, existing, next, "pausing");
      });
    },
    stop: (id, expected) => stopWith(id, expected, "stopped"),
    async conclude(id, arm, expected, keyId) {
      requireId(id);
      const current = await store.getExperiment(id);
      if (current === undefined) throw new TurnoutError(ErrorCode.NotFound, `experiment ${JSON.stringify(id)} does not exist`);
      const winner = current.value.arms.find((a) => a.name === arm);
      if (winner === undefined)
        throw invalidArgument([
          {
            field: "arm",
            message: `${JSON.stringify(arm)} is not an arm of experiment ${JSON.stringify(id)} (arms: ${current.value.arms.map((a) => a.name).join(", ")})`,
          },
        ]);
      precondition(current.value, "concluded", [RUNNING, PAUSED, STOPPED]);
      checkExpectedRevision(`experiment ${JSON.stringify(id)}`, current.revision, expected);
      // The route switch first (idempotent): a Conclude that fails after it can simply be repeated.
      await ctx.admin.switchModel(current.value.route, winner.variant, undefined, keyId);
      return exclusive(async () => {
        const state = await store.readState();
        const existing = await find(state, id);
        precondition(existing.value, "concluded", [RUNNING, PAUSED, STOPPED]);
        const next = clone(ExperimentSchema, existing.value);
        endPhase(next, now(), CONCLUDED, "concluded");
        next.winner = arm;
        return commit(state, existing, next, "concluding");
      });
    },
    async changeSplit(id, weights, rerandomize, expected) {
      requireId(id);
      return exclusive(async () => {
        const state = await store.readState();
        const existing = await find(state, id);
        checkExpectedRevision(`experiment ${JSON.stringify(id)}`, existing.revision, expected);
        const e = existing.value;
        const current = e.phases.at(-1);
        const currentWeights = e.arms.map((a, i) => current?.weights[i] ?? a.weight);
        const newWeights = weights.length === 0 ? currentWeights : [...weights];
        const problems = splitProblems(e, weights, rerandomize, currentWeights);
        if (problems.length > 0) throw invalidArgument(problems);
        precondition(e, "re-split", [RUNNING, PAUSED]);
        const at = now();
        const next = clone(ExperimentSchema, e);
        const last = next.phases.at(-1);
        if (last !== undefined && last.endedAt === undefined) last.endedAt = timestampFromDate(at);
        const seed = rerandomize ? `${id}:${next.phases.length}` : (last?.seed ?? `${id}:0`);
        next.phases.push(create(ExperimentPhaseSchema, { seed, startedAt: timestampFromDate(at), weights: newWeights }));
        next.arms.forEach((a, i) => (a.weight = newWeights[i]));
        return commit(state, existing, next, "re-splitting");
      });
    },
    async get(id) {
      requireId(id);
      return (
        (await store.getExperiment(id)) ??
        Promise.reject(new TurnoutError(ErrorCode.NotFound, `experiment ${JSON.stringify(id)} does not exist`))
      );
    },
    async list(route) {
      const all = (await store.readState()).experiments;
      return all.filter((e) => !route || e.value.route === route).sort((a, b) => (a.value.id < b.value.id ? -1 : 1));
    },
    async stopExpired() {
      const at = now().getTime();
      const due = (await store.readState()).experiments.filter(
        (e) => e.value.status === RUNNING && e.value.endsAt !== undefined && timestampDate(e.value.endsAt).getTime() <= at,
      );
      const stopped: string[] = [];
      for (const e of due) {
        try {
          await stopWith(e.value.id, undefined, "duration");
          stopped.push(e.value.id);
        } catch (err) {
          if (!(err instanceof TurnoutError && err.code === ErrorCode.FailedPrecondition)) throw err; // stopped meanwhile
        }
      }
      return stopped;
    },
    async nextEnd() {
      const ends = (await store.readState()).experiments
        .filter((e) => e.value.status === RUNNING && e.value.endsAt !== undefined)
        .map((e) => timestampDate(e.value.endsAt!).getTime());
      return ends.length === 0 ? undefined : Math.min(...ends);
    },
  };
}
