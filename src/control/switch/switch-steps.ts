/**
 * The steps of one make-before-break switch (see model-switch.ts for the order and the
 * guarantees), each reported as a SwitchEvent with its human-readable line.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { Route, Variant } from "../../../gen/turnout/v1/routing_pb.js";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { AdminOperations } from "../admin/admin-operations.ts";
import { DEFAULT_FIRST_BYTE_TIMEOUT_MS } from "../state/desired-state.ts";
import type { Fleet } from "../fleet/fleet.ts";
import type { StateStore, Stored, StoredState } from "../state/state-store.ts";
import { awaitDrained, awaitFleetServing } from "./fleet-gate.ts";
import type { SwitchInput, SwitchLock } from "./switch-input.ts";
import { DEFAULT_WARM_KEEP_ALIVE, warmVariant } from "./prewarm.ts";
import type { SwitchEvent, SwitchRunWriter, SwitchStep } from "./switch-run.ts";
import { unloadModel } from "./unload-model.ts";
import { isServing, nodesStillUsing, variantNodes } from "./variant-nodes.ts";

/** Builds a run's events: fills the fields every event shares, logs each, and builds the `failed` event. */
export function createSwitchEvents(writer: SwitchRunWriter, route: string, variant: string, log?: Logger) {
  const started = performance.now();
  /** What the steps learnt so far; `moved` once the shift is written. */
  const info = { previousVariant: "", model: "", moved: false, version: 0 };
  const emit = (phase: SwitchStep, fields: Partial<SwitchEvent> & { message: string }) => {
    const logged = { route, variant, phase, node: fields.node, snapshotVersion: fields.snapshotVersion ?? info.version };
    if (phase === "draining") log?.debug(logged, fields.message);
    else if (phase !== "failed") log?.info(logged, fields.message);
    writer.emit({
      phase,
      route,
      variant,
      previousVariant: info.previousVariant,
      model: info.model,
      node: "",
      nodesDone: 0,
      nodesTotal: 0,
      fleetSynced: 0,
      fleetLive: 0,
      snapshotVersion: info.version,
      inFlight: 0,
      elapsedMs: Math.round(performance.now() - started),
      ...fields,
    });
  };
  return {
    info,
    emit,
    failed(err: unknown) {
      const reason = err instanceof Error ? err.message : String(err);
      const where = info.moved
        ? `traffic had already moved to ${variant} at snapshot ${info.version}`
        : `nothing moved: route ${route} is unchanged`;
      emit("failed", { message: `switch failed: ${reason} (${where})` });
    },
  };
}

/** What the steps need. */
export interface SwitchStepsContext {
  input: SwitchInput;
  /** The stored state read at the start. */
  state: StoredState;
  /** The route as read at the start. */
  stored: Stored<Route>;
  /** The target variant. */
  target: Variant;
  writer: SwitchRunWriter;
  events: ReturnType<typeof createSwitchEvents>;
  log: Logger;
  admin: AdminOperations;
  store: StateStore;
  fleet: Fleet | undefined;
  /** Aborts the switch (shutdown). */
  signal: AbortSignal;
  /** The route's lock; the shift's write is recorded on it. */
  lock: SwitchLock;
  fleetTimeoutMs: number;
  drainTimeoutMs: number;
  drainPollMs: number;
  /** Version of a consistent published snapshot that has the variant. */
  versionWith(route: string, variant: string): Promise<number>;
  /** Called once the shift is written (another switch of the route may start). */
  onShifted(): void;
}

/** Runs warm → fleet → shift → drain → unload. */
export async function runSwitchSteps(c: SwitchStepsContext): Promise<void> {
  const { route, variant } = c.input;
  const { emit, info } = c.events;
  const before = c.stored.value;
  const model = c.target.model;
  info.previousVariant = before.defaultVariant;
  info.model = model;

  if (before.defaultVariant === variant && before.arms.length === 0) {
    const current = await c.admin.getCurrentModel(route);
    info.version = current.snapshotVersion;
    emit("shifted", {
      message: `route ${route} is already served by ${variant} (${model}) at snapshot ${info.version}; nothing to do`,
    });
    c.writer.shifted({ previousVariant: variant, revision: c.stored.revision, snapshotVersion: info.version });
    return;
  }

  // 1. Warm: the target's model resident on every node of the variant.
  if (!c.input.skipPrewarm) {
    const nodes = variantNodes(
      c.state.nodes.map((n) => n.value),
      c.target,
    );
    await warmVariant({
      nodes,
      model,
      keepAlive: c.target.keepAlive || c.input.keepAlive || DEFAULT_WARM_KEEP_ALIVE,
      timeoutMs: c.state.settings?.value.firstByteTimeoutMs || DEFAULT_FIRST_BYTE_TIMEOUT_MS,
      signal: c.signal,
      options: c.target.options as JsonObject | undefined,
      onProgress: (p) =>
        emit(p.phase, {
          node: p.node,
          nodesDone: p.done,
          nodesTotal: p.total,
          message:
            p.phase === "warming"
              ? `warming ${model} on ${p.node} (node ${p.index}/${p.total})`
              : `${model} resident on ${p.node} (${p.done}/${p.total}, ${p.elapsedMs} ms)`,
        }),
    });
  }

  // 2. Fleet: every live proxy serves a snapshot that has the target variant.
  if (c.fleet) {
    const v0 = await c.versionWith(route, variant);
    info.version = v0;
    await awaitFleetServing(c.fleet, v0, c.fleetTimeoutMs, c.signal, ({ synced, live }) =>
      emit("fleet", {
        fleetSynced: synced,
        fleetLive: live,
        message: `fleet ${synced}/${live} serve snapshot ${v0}, which has ${variant}`,
      }),
    );
  }

  // 3. Shift: the write, then every live proxy serving it.
  let result;
  try {
    const write = c.admin.switchModel(route, variant, c.input.expectedRevision ?? c.stored.revision, c.input.keyId);
    c.lock.writing = write.catch(() => undefined);
    result = await write;
  } catch (err) {
    if (err instanceof TurnoutError && err.code === ErrorCode.Aborted && c.input.expectedRevision === undefined) {
      throw new TurnoutError(
        ErrorCode.Aborted,
        `route ${JSON.stringify(route)} changed while the switch was warming (${err.message}); retry`,
        { cause: err },
      );
    }
    throw err;
  }
  info.moved = true;
  info.version = result.snapshotVersion;
  c.onShifted();
  c.writer.shifted({
    previousVariant: before.defaultVariant,
    revision: result.revision,
    snapshotVersion: result.snapshotVersion,
  });
  let fleetLine = "; the fleet is not tracked (no event bus)";
  let count = { synced: 0, live: 0 };
  if (c.fleet) {
    count = await awaitFleetServing(c.fleet, info.version, c.fleetTimeoutMs, c.signal, ({ synced, live }) =>
      emit("fleet", {
        fleetSynced: synced,
        fleetLive: live,
        message: `fleet ${synced}/${live} serve snapshot ${info.version}, which shifts ${route} to ${variant}`,
      }),
    );
    fleetLine = ` (fleet ${count.synced}/${count.live})`;
  }
  emit("shifted", {
    fleetSynced: count.synced,
    fleetLive: count.live,
    message: `traffic shifted from ${before.defaultVariant} to ${variant} (${model}) at snapshot ${info.version}${fleetLine}`,
  });

  // 4. Drain: the variants that lost their traffic have nothing in flight.
  const old = before.variants.filter((v) => v.name !== variant && isServing(before, v.name));
  const unloading = old.filter((v) => c.input.unload ?? v.unloadWhenIdle);
  if (old.length === 0 || (c.input.stopAfterShift && unloading.length === 0)) return;
  const names = old.map((v) => v.name).join(", ");
  if (!c.fleet) {
    emit("drained", { message: `drain of ${names} not tracked without fleet status (no event bus); models left loaded` });
    return;
  }
  await awaitDrained(
    c.fleet,
    route,
    old.map((v) => v.name),
    c.drainTimeoutMs,
    c.signal,
    (n) => {
      if (n > 0) emit("draining", { inFlight: n, message: `draining ${names}: ${n} in flight` });
    },
    c.drainPollMs,
  );
  emit("drained", { message: `${names} drained: no request in flight` });

  // 5. Unload, where no serving variant still uses the model (state read again: it may have moved on).
  if (unloading.length === 0) return;
  const fresh = await c.store.readState();
  const routes = fresh.routes.map((r) => r.value);
  const nodes = fresh.nodes.map((n) => n.value);
  const now = routes.find((r) => r.name === route);
  for (const v of unloading) {
    if (now !== undefined && isServing(now, v.name)) {
      emit("unloaded", { model: v.model, message: `${v.model} kept loaded: ${v.name} serves ${route} again` });
      continue;
    }
    const used = nodesStillUsing(routes, nodes, v.model, { route, variant: v.name });
    const all = variantNodes(nodes, v);
    const targets = all.filter((n) => !used.has(n.id));
    const kept = all.filter((n) => used.has(n.id)).map((n) => n.id);
    if (targets.length === 0) {
      emit("unloaded", {
        model: v.model,
        message: `${v.model} kept loaded on ${kept.join(", ")}: another serving variant uses it there`,
      });
      continue;
    }
    await unloadModel({
      nodes: targets,
      model: v.model,
      signal: c.signal,
      onResult: (r, done) =>
        emit("unloaded", {
          model: v.model,
          node: r.node,
          nodesDone: done,
          nodesTotal: targets.length,
          message: r.unloaded
            ? `${v.model} unloaded from ${r.node} (${done}/${targets.length})`
            : `${v.model} not unloaded from ${r.node} (${done}/${targets.length}): ${r.reason}`,
        }),
    });
    if (kept.length > 0)
      emit("unloaded", {
        model: v.model,
        message: `${v.model} kept loaded on ${kept.join(", ")}: another serving variant uses it there`,
      });
  }
}
