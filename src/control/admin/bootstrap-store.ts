/**
 * Startup's write: a config's desired state is written into an EMPTY store (validated, normalised
 * and checked as a whole first, like an admin write), then the stored state is published, so a
 * current snapshot exists. A store that already holds nodes or routes is kept as it is: restarts
 * keep admin changes.
 */
import { invalidArgument } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { checkDesiredState } from "../publish/compile.ts";
import type { PublishResult } from "../publish/publish.ts";
import type { WriteQueue } from "../publish/write-queue.ts";
import type { DesiredState } from "../state/desired-state.ts";
import type { StateStore } from "../state/state-store.ts";
import { normalizeNode, normalizeRoute } from "./normalize.ts";
import { validateDesiredState } from "./validate.ts";

/** Options of {@link bootstrapStore}. */
export interface BootstrapOptions {
  store: StateStore;
  /** The queue the write runs in, and its publish. */
  queue: Pick<WriteQueue<PublishResult>, "exclusive" | "publish">;
  /** Desired state to write when the store holds no nodes and no routes. Default: none (only publish). */
  bootstrap?: DesiredState;
  /** Logs what was done with the bootstrap and the snapshot that is ready. */
  logger: Logger;
}

/** Writes `bootstrap` into an empty store (validated and normalised first). */
async function writeState(store: StateStore, bootstrap: DesiredState): Promise<void> {
  const violations = validateDesiredState(bootstrap);
  if (violations.length > 0) throw invalidArgument(violations);
  const state: DesiredState = {
    nodes: bootstrap.nodes.map(normalizeNode),
    routes: bootstrap.routes.map((r) => normalizeRoute(r)),
    settings: bootstrap.settings,
  };
  const problems = checkDesiredState(state);
  if (problems.length > 0) throw invalidArgument(problems);
  if (state.settings) await store.putSettings(state.settings, 0);
  for (const node of state.nodes) await store.putNode(node, 0);
  for (const route of state.routes) await store.putRoute(route, 0);
}

/**
 * Applies `options.bootstrap` to an empty store, then publishes a snapshot of the stored state
 * unless the current one already has that content. Throws `invalid_argument` for a bootstrap that
 * is not valid, leaving the store unchanged.
 */
export async function bootstrapStore(options: BootstrapOptions): Promise<PublishResult> {
  const { store, bootstrap, logger: log } = options;
  return options.queue.exclusive(async () => {
    const state = await store.readState();
    const empty = state.nodes.length === 0 && state.routes.length === 0;
    if (bootstrap !== undefined && empty) {
      await writeState(store, bootstrap);
      log.info({ nodes: bootstrap.nodes.length, routes: bootstrap.routes.length }, "bootstrapped the store from the config");
    } else if (bootstrap !== undefined) {
      log.info(
        { nodes: state.nodes.length, routes: state.routes.length },
        "config not applied: the store already holds state, which is kept (admin changes survive restarts)",
      );
    }
    const result = await options.queue.publish();
    log.info({ version: Number(result.snapshot.version), published: result.published }, "snapshot ready");
    return result;
  });
}
