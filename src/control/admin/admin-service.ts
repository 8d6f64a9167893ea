/**
 * The AdminService handlers: thin adapters from Connect requests to the admin operations; every
 * error is converted once, here, with `toConnectError`.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "../../../gen/turnout/v1/admin_pb.js";
import { invalidArgument, rpc } from "../../errors.ts";
import { callerOf } from "../auth/actor.ts";
import type { AdminOperations } from "./admin-operations.ts";
import type { Fleet } from "../fleet/fleet.ts";
import { checkFleetWait, waitForFleet } from "../fleet/wait-for-fleet.ts";
import type { ModelSwitcher } from "../switch/model-switch.ts";

const rev = (r: bigint | undefined) => (r === undefined ? undefined : Number(r));
const big = (n: number) => BigInt(n);

/**
 * The AdminService implementation over `ops`. With `fleet`, writes honour `wait_for_fleet_ms`
 * (without it such a write is refused before it changes anything). With `switcher`, SwitchModel
 * is make-before-break (pre-warm, fleet, then the write; it answers once traffic has shifted and
 * the switch drains and unloads on its own); without it, the bare write.
 */
export function createAdminService(
  ops: AdminOperations,
  fleet?: Fleet,
  switcher?: ModelSwitcher,
): ServiceImpl<typeof AdminService> {
  /** Runs a write that may wait for the fleet: checked first, then waited on after the write. */
  const write = <T extends { snapshotVersion: bigint }>(waitMs: number, signal: AbortSignal, fn: () => Promise<T>) =>
    rpc(async () => {
      checkFleetWait(fleet, waitMs);
      const result = await fn();
      return { ...result, convergence: await waitForFleet(fleet, Number(result.snapshotVersion), waitMs, signal) };
    });
  return {
    listNodes: () =>
      rpc(async () => ({ nodes: (await ops.listNodes()).map((n) => ({ node: n.value, revision: big(n.revision) })) })),
    getNode: (req) =>
      rpc(async () => {
        const n = await ops.getNode(req.id);
        return { node: { node: n.value, revision: big(n.revision) } };
      }),
    putNode: (req, ctx) =>
      write(req.waitForFleetMs, ctx.signal, async () => {
        if (req.node === undefined) throw missing("node");
        const r = await ops.putNode(req.node, rev(req.expectedRevision), callerOf(ctx));
        return { revision: big(r.revision), snapshotVersion: big(r.snapshotVersion) };
      }),
    deleteNode: (req, ctx) =>
      write(req.waitForFleetMs, ctx.signal, async () => ({
        snapshotVersion: big((await ops.deleteNode(req.id, rev(req.expectedRevision), callerOf(ctx))).snapshotVersion),
      })),
    listRoutes: () =>
      rpc(async () => ({ routes: (await ops.listRoutes()).map((r) => ({ route: r.value, revision: big(r.revision) })) })),
    getRoute: (req) =>
      rpc(async () => {
        const r = await ops.getRoute(req.name);
        return { route: { route: r.value, revision: big(r.revision) } };
      }),
    putRoute: (req, ctx) =>
      write(req.waitForFleetMs, ctx.signal, async () => {
        if (req.route === undefined) throw missing("route");
        const r = await ops.putRoute(req.route, rev(req.expectedRevision), callerOf(ctx));
        return { revision: big(r.revision), snapshotVersion: big(r.snapshotVersion), route: r.route };
      }),
    deleteRoute: (req, ctx) =>
      write(req.waitForFleetMs, ctx.signal, async () => ({
        snapshotVersion: big((await ops.deleteRoute(req.name, rev(req.expectedRevision), callerOf(ctx))).snapshotVersion),
      })),
    getCurrentModel: (req) =>
      rpc(async () => {
        const m = await ops.getCurrentModel(req.route);
        return { ...m, sinceVersion: big(m.sinceVersion), snapshotVersion: big(m.snapshotVersion) };
      }),
    switchModel: (req, ctx) =>
      write(req.waitForFleetMs, ctx.signal, async () => {
        const r = switcher
          ? await switcher.start({
              route: req.route,
              variant: req.variant,
              expectedRevision: rev(req.expectedRevision),
              skipPrewarm: req.skipPrewarm,
              stopAfterShift: true,
              keyId: callerOf(ctx),
            }).shifted
          : await ops.switchModel(req.route, req.variant, rev(req.expectedRevision), callerOf(ctx));
        return { previousVariant: r.previousVariant, revision: big(r.revision), snapshotVersion: big(r.snapshotVersion) };
      }),
    setWeights: (req, ctx) =>
      write(req.waitForFleetMs, ctx.signal, async () => {
        const weights = req.weights.map((w) => ({ variant: w.variant, weight: w.weight }));
        const r = await ops.setWeights(req.route, weights, rev(req.expectedRevision), callerOf(ctx));
        return { route: r.route, revision: big(r.revision), snapshotVersion: big(r.snapshotVersion) };
      }),
    getSnapshot: () => rpc(async () => ({ snapshot: await ops.getSnapshot() })),
  };
}

/** The error for a request field that must be set. */
function missing(field: string) {
  return invalidArgument([{ field, message: "must be set" }]);
}
