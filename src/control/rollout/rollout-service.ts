/**
 * The RolloutService handlers: thin adapters from Connect requests to the rollout engine and its
 * store; every error is converted once, here, with `toConnectError`.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import {
  RolloutCommand,
  RolloutPhase,
  type RolloutService,
  type Rollout,
  type RolloutEvent,
} from "../../../gen/turnout/v1/rollout_pb.js";
import { ErrorCode, TurnoutError, invalidArgument, toConnectError, rpc } from "../../errors.ts";
import type { AdminOperations } from "../admin/admin-operations.ts";
import { isTerminal, startRollout } from "./rollout-machine.ts";
import type { RolloutEngine } from "./rollout-engine.ts";
import { ROLLOUT_ID, newRolloutId, requestProblems, rolloutSpec } from "./rollout-spec.ts";

function checkId(id: string, field = "id"): void {
  if (!ROLLOUT_ID.test(id))
    throw invalidArgument([{ field, message: id === "" ? "must not be empty" : `${JSON.stringify(id)} is not a rollout id` }]);
}

const eventKey = (e: RolloutEvent | undefined) => (e === undefined ? "" : `${e.kind}@${e.at?.seconds}.${e.at?.nanos}`);
const createdMs = (r: Rollout) => Number(r.createdAt?.seconds ?? 0n) * 1000 + (r.createdAt?.nanos ?? 0) / 1e6;

/** Options of {@link createRolloutService}. */
export interface RolloutServiceOptions {
  engine: RolloutEngine;
  admin: Pick<AdminOperations, "getRoute">;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Ends every WatchRollout stream when it aborts (the control plane closing). Default: none. */
  closed?: AbortSignal;
}

/** The RolloutService implementation. */
export function createRolloutService(options: RolloutServiceOptions): ServiceImpl<typeof RolloutService> {
  const { engine } = options;
  const rs = engine.store;
  const now = options.now ?? Date.now;
  const get = async (id: string) => {
    checkId(id);
    return (
      (await rs.get(id)) ?? Promise.reject(new TurnoutError(ErrorCode.NotFound, `rollout ${JSON.stringify(id)} does not exist`))
    );
  };
  const command = (id: string, c: RolloutCommand, reason = "") =>
    rpc(async () => {
      checkId(id);
      return { rollout: await engine.command(id, c, reason) };
    });

  return {
    startRollout: (req) =>
      rpc(async () => {
        const problems = requestProblems(req);
        if (problems.length > 0) throw invalidArgument(problems);
        const route = await options.admin.getRoute(req.route);
        const id = newRolloutId(now());
        const spec = rolloutSpec(req, route, id);
        if (!(await rs.claimRoute(spec.route, id))) {
          const active = await rs.active(spec.route);
          const holder = active && (await rs.get(active.id));
          if (active !== undefined && (holder === undefined || isTerminal(holder))) {
            await rs.releaseRoute(spec.route, active.id); // a claim left behind by a crash at the end of a rollout
            if (!(await rs.claimRoute(spec.route, id))) throw busy(spec.route, undefined);
          } else throw busy(spec.route, active?.id);
        }
        try {
          return { rollout: await engine.begin(startRollout(spec, now())) };
        } catch (err) {
          await rs.releaseRoute(spec.route, id).catch(() => undefined);
          throw err;
        }
      }),
    getRollout: (req) => rpc(async () => ({ rollout: await get(req.id) })),
    listRollouts: (req) =>
      rpc(async () => {
        const all = (await rs.list()).filter(
          (r) => (req.route === "" || r.route === req.route) && (!req.activeOnly || !isTerminal(r)),
        );
        return { rollouts: all.sort((a, b) => createdMs(b) - createdMs(a)) };
      }),
    async *watchRollout(req, ctx) {
      let current: Rollout;
      try {
        current = await get(req.id);
      } catch (err) {
        throw toConnectError(err);
      }
      const signal = options.closed === undefined ? ctx.signal : AbortSignal.any([ctx.signal, options.closed]);
      let lastEvent = "";
      let lastRevision = -1n;
      const iterator = rs.watchRecord(req.id, signal)[Symbol.asyncIterator]();
      let pending = iterator.next();
      for (;;) {
        const converging = current.phase === RolloutPhase.CONVERGING; // refresh the fleet's progress every second
        if (isTerminal(current)) await engine.audited(current, AbortSignal.any([signal, AbortSignal.timeout(2000)]));
        if (current.revision !== lastRevision || converging) {
          const key = eventKey(current.lastEvent);
          yield {
            rollout: current,
            event: key !== lastEvent ? current.lastEvent : undefined,
            convergence: engine.convergence(current.snapshotVersion),
          };
          lastEvent = key;
          lastRevision = current.revision;
        }
        if (isTerminal(current) || signal.aborted) return;
        const tick = converging ? new Promise<"tick">((resolve) => setTimeout(resolve, 1000, "tick").unref()) : undefined;
        const next = await (tick ? Promise.race([pending, tick]) : pending);
        if (next === "tick") continue;
        if (next.done) return;
        pending = iterator.next();
        current = next.value;
      }
    },
    pauseRollout: (req) => command(req.id, RolloutCommand.PAUSE),
    resumeRollout: (req) => command(req.id, RolloutCommand.RESUME),
    abortRollout: (req) => command(req.id, RolloutCommand.ABORT, req.reason),
    promoteRollout: (req) => command(req.id, RolloutCommand.PROMOTE),
    listAudit: (req) =>
      rpc(async () => {
        const limit = req.limit || 1000;
        const entries = (await rs.auditAll()).filter((e) => req.route === "" || e.route === req.route);
        const at = (e: RolloutEvent) => Number(e.at?.seconds ?? 0n) * 1e9 + (e.at?.nanos ?? 0);
        entries.sort((a, b) => at(a) - at(b) || (a.rolloutId === b.rolloutId ? a.seq - b.seq : 0));
        return { entries: entries.slice(-limit) };
      }),
    getAuditLog: (req) =>
      rpc(async () => {
        checkId(req.rolloutId, "rollout_id");
        if ((await rs.get(req.rolloutId)) === undefined)
          throw new TurnoutError(ErrorCode.NotFound, `rollout ${JSON.stringify(req.rolloutId)} does not exist`);
        return { entries: await rs.audit(req.rolloutId) };
      }),
  };
}

function busy(route: string, id: string | undefined): TurnoutError {
  const which = id === undefined ? "an active rollout" : `an active rollout (${id})`;
  return new TurnoutError(
    ErrorCode.FailedPrecondition,
    `route ${JSON.stringify(route)} already has ${which}; abort it or let it finish first`,
  );
}
