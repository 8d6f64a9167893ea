/**
 * The pre-warm as rollouts call it: by route and variant name, over the stored desired state.
 * Resolves the variant's nodes as the proxy does and loads its model on each (`warmVariant`), so
 * a canary is resident before its first step moves any traffic.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import { DEFAULT_FIRST_BYTE_TIMEOUT_MS } from "../state/desired-state.ts";
import type { StateStore } from "../state/state-store.ts";
import { DEFAULT_WARM_KEEP_ALIVE, warmVariant } from "./prewarm.ts";
import { variantNodes } from "./variant-nodes.ts";

/** Pre-warms `variant` of `route`; rejects (FailedPrecondition / NotFound) when it cannot. */
export type VariantWarmer = (route: string, variant: string, signal: AbortSignal) => Promise<void>;

/** A warmer reading nodes, the route and the first-byte timeout from `store` at each call. */
export function createVariantWarmer(store: StateStore): VariantWarmer {
  return async (routeName, variantName, signal) => {
    const state = await store.readState();
    const route = state.routes.find((r) => r.value.name === routeName)?.value;
    if (route === undefined) throw new TurnoutError(ErrorCode.NotFound, `route ${JSON.stringify(routeName)} does not exist`);
    const variant = route.variants.find((v) => v.name === variantName);
    if (variant === undefined)
      throw new TurnoutError(
        ErrorCode.NotFound,
        `variant ${JSON.stringify(variantName)} of route ${JSON.stringify(routeName)} does not exist`,
      );
    await warmVariant({
      nodes: variantNodes(
        state.nodes.map((n) => n.value),
        variant,
      ),
      model: variant.model,
      keepAlive: variant.keepAlive || DEFAULT_WARM_KEEP_ALIVE,
      timeoutMs: state.settings?.value.firstByteTimeoutMs || DEFAULT_FIRST_BYTE_TIMEOUT_MS,
      signal,
      options: variant.options as JsonObject | undefined,
    });
  };
}
