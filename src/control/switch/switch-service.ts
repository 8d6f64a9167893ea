/**
 * The SwitchService handler: a thin adapter from `SwitchRequest` to the switcher and from each
 * SwitchEvent to a `SwitchResponse`. The switch runs on whether or not the caller keeps watching
 * (a caller that goes away only ends its stream); a failure ends the stream with its Connect error
 * after the FAILED message.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { SwitchPhase, SwitchResponseSchema, type SwitchService, type SwitchResponse } from "../../../gen/turnout/v1/switch_pb.js";
import { toConnectError } from "../../errors.ts";
import { callerOf } from "../auth/actor.ts";
import type { ModelSwitcher } from "./model-switch.ts";
import type { SwitchEvent, SwitchStep } from "./switch-run.ts";

const phases: Record<SwitchStep, SwitchPhase> = {
  warming: SwitchPhase.WARMING,
  resident: SwitchPhase.RESIDENT,
  fleet: SwitchPhase.FLEET,
  shifted: SwitchPhase.SHIFTED,
  draining: SwitchPhase.DRAINING,
  drained: SwitchPhase.DRAINED,
  unloaded: SwitchPhase.UNLOADED,
  failed: SwitchPhase.FAILED,
};

/** A SwitchEvent as its proto message. */
function switchResponse(e: SwitchEvent): SwitchResponse {
  return create(SwitchResponseSchema, { ...e, phase: phases[e.phase], snapshotVersion: BigInt(e.snapshotVersion) });
}

/** The SwitchService implementation over `switcher`. */
export function createSwitchService(switcher: ModelSwitcher): ServiceImpl<typeof SwitchService> {
  return {
    async *switch(req, ctx) {
      const run = switcher.start({
        route: req.route,
        variant: req.variant,
        expectedRevision: req.expectedRevision === undefined ? undefined : Number(req.expectedRevision),
        unload: req.unload,
        fleetTimeoutMs: req.fleetTimeoutMs,
        drainTimeoutMs: req.drainTimeoutMs,
        keepAlive: req.keepAlive,
        keyId: callerOf(ctx),
      });
      try {
        for await (const event of run.events(ctx.signal)) yield switchResponse(event);
      } catch (err) {
        throw toConnectError(err);
      }
    },
    async cancelSwitch(req) {
      try {
        const variants = switcher.cancel(req.route);
        return { cancelled: variants.length, variants };
      } catch (err) {
        throw toConnectError(err);
      }
    },
  };
}
