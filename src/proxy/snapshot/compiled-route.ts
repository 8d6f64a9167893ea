/**
 * The compiled shapes of a routing table that the hot path reads: nodes with their shared
 * upstream, variants with their nodes resolved, routes with their bucket → arm table, and a
 * route's running experiments. Plain immutable data built by routing-table.ts and
 * route-experiments.ts; read by routing (assignment), upstream (node choice, exchange) and the
 * reporters. Types only: it sits below everything that builds or reads them.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { CompiledLayer } from "../../assign/layers.ts";
import type { Targeting } from "../../assign/targeting/compile-targeting.ts";
import type { NodeUpstream } from "../upstream/node-upstream.ts";
import type { SlotQueue } from "../upstream/slot-queue.ts";

/** A node in one table: its shared upstream plus this snapshot's limits. */
export interface CompiledNode {
  readonly id: string;
  readonly upstream: NodeUpstream;
  /** Most requests at once; 0 = unlimited. */
  readonly maxConcurrent: number;
}

/** A variant with its nodes resolved. */
export interface CompiledVariant {
  readonly name: string;
  /** Upstream model tag. */
  readonly model: string;
  readonly nodes: readonly CompiledNode[];
  /** Ollama options that win over the client's. */
  readonly options: JsonObject | undefined;
  /** keep_alive forced on native requests ("" = leave the client's), as Ollama reads it: a whole
   * number of seconds, or Go duration text (see `ollamaKeepAlive`). */
  readonly keepAlive: string;
  /** `"model":"<tag>"` as bytes, what answers carry. */
  readonly modelPattern: Buffer;
  /** Requests waiting for a slot when every node is full. */
  readonly queue: SlotQueue;
}

/** A route with its assignment table. */
export interface CompiledRoute {
  readonly name: string;
  readonly variants: ReadonlyMap<string, CompiledVariant>;
  readonly defaultVariant: CompiledVariant;
  /** Arm index → variant; empty when there is no split. */
  readonly arms: readonly CompiledVariant[];
  /** Bucket → arm index, or null when there is no split. */
  readonly buckets: Int32Array | null;
  /** GrowthBook seed of the current phase. */
  readonly seed: string;
  /** `"model":"<route>"` as bytes, what clients see. */
  readonly modelReplacement: Buffer;
  /** Running experiments on the route; null when it has none (the hot path's only check). */
  experiments: RouteExperiments | null;
}

/** One running experiment, compiled. */
export interface CompiledExperiment {
  readonly id: string;
  readonly phase: number;
  /** Arm index → variant. */
  readonly arms: readonly CompiledVariant[];
  readonly armNames: readonly string[];
  /** The unit's bucket under the phase seed. */
  readonly bucketOf: (unit: string) => number;
  /** Bucket → arm index. */
  readonly buckets: Int32Array;
  readonly targeting: Targeting;
}

/** The experiments of one route: their (shared) layer and, per layer slot, the route's experiment. */
export interface RouteExperiments {
  readonly layer: CompiledLayer;
  /** Indexed like `layer.experiments`; undefined where the slot's experiment is on another route. */
  readonly bySlot: readonly (CompiledExperiment | undefined)[];
}
