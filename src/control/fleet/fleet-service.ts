/**
 * The FleetService handlers: thin adapters from Connect requests to the live fleet; errors are
 * converted once, here, with `toConnectError`.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { FleetService } from "../../../gen/turnout/v1/fleet_pb.js";
import { toConnectError } from "../../errors.ts";
import type { Fleet } from "./fleet.ts";

/** Options of {@link createFleetService}. */
export interface FleetServiceOptions {
  /** Minimum time between two WatchFleet messages, in ms (a burst of reports becomes one). Default 100. */
  watchCoalesceMs?: number;
}

/** The FleetService implementation over `fleet`. */
export function createFleetService(fleet: Fleet, options: FleetServiceOptions = {}): ServiceImpl<typeof FleetService> {
  return {
    listProxies(req) {
      try {
        return { proxies: fleet.proxies(req.includeGone), latest: fleet.convergence() };
      } catch (err) {
        throw toConnectError(err);
      }
    },
    async *watchFleet(_req, ctx) {
      try {
        for await (const view of fleet.watch(ctx.signal, options.watchCoalesceMs)) yield view;
      } catch (err) {
        throw toConnectError(err);
      }
    },
    getConvergence(req) {
      try {
        return { convergence: fleet.convergence(Number(req.version)) };
      } catch (err) {
        throw toConnectError(err);
      }
    },
  };
}
