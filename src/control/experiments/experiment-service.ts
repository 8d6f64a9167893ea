/**
 * The ExperimentService handlers: thin adapters from Connect requests to the experiment
 * operations; every error is converted once, here, with `toConnectError`.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { ExperimentService } from "../../../gen/turnout/v1/experiment_pb.js";
import { toConnectError, rpc } from "../../errors.ts";
import { callerOf } from "../auth/actor.ts";
import type { ExperimentOperations, ExperimentResult } from "./experiment-operations.ts";
import type { ExperimentReports } from "./experiment-reports.ts";

const rev = (r: bigint | undefined) => (r === undefined ? undefined : Number(r));
const answer = (r: ExperimentResult) => ({
  experiment: r.experiment,
  revision: BigInt(r.revision),
  snapshotVersion: BigInt(r.snapshotVersion),
});

/**
 * The ExperimentService implementation over `ops` and `reports`; WatchReport streams end with
 * the call or when `closed` aborts (the control plane closing).
 */
export function createExperimentService(
  ops: ExperimentOperations,
  reports: ExperimentReports,
  closed?: AbortSignal,
): ServiceImpl<typeof ExperimentService> {
  return {
    create: (req) =>
      rpc(async () => {
        const r = await ops.create(req);
        return { experiment: r.experiment, revision: BigInt(r.revision) };
      }),
    start: (req) => rpc(async () => answer(await ops.start(req.id, rev(req.expectedRevision)))),
    pause: (req) => rpc(async () => answer(await ops.pause(req.id, rev(req.expectedRevision)))),
    stop: (req) => rpc(async () => answer(await ops.stop(req.id, rev(req.expectedRevision)))),
    conclude: (req, ctx) =>
      rpc(async () => answer(await ops.conclude(req.id, req.arm, rev(req.expectedRevision), callerOf(ctx)))),
    changeSplit: (req) =>
      rpc(async () => answer(await ops.changeSplit(req.id, req.weights, req.rerandomize, rev(req.expectedRevision)))),
    get: (req) =>
      rpc(async () => {
        const e = await ops.get(req.id);
        return { experiment: e.value, revision: BigInt(e.revision) };
      }),
    list: (req) => rpc(async () => ({ experiments: (await ops.list(req.route)).map((e) => e.value) })),
    getReport: (req) => rpc(async () => ({ report: await reports.get(req.id) })),
    async *watchReport(req, ctx) {
      const signal = closed === undefined ? ctx.signal : AbortSignal.any([ctx.signal, closed]);
      try {
        for await (const report of reports.watch(req.id, req.intervalSeconds, signal)) yield { report };
      } catch (err) {
        throw toConnectError(err);
      }
    },
  };
}
