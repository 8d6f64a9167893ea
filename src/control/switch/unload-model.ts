/**
 * Unload: after a switch has drained the old variant, ask each of its nodes to drop the model
 * (Ollama's empty generate with `keep_alive: 0`, which unloads once the model is idle) and check
 * `/api/ps`. Best effort: a node that fails is reported, never retried, and never fails the
 * switch — traffic has already moved.
 */
import { emptyGenerate, residentModels, sameModel } from "./ollama-admin.ts";
import type { TargetNode } from "./variant-nodes.ts";

/** What unloading did on one node. */
export interface UnloadResult {
  /** Node id. */
  node: string;
  /** True when `/api/ps` no longer lists the model. */
  unloaded: boolean;
  /** Why not, when not. */
  reason?: string;
}

/** Options of {@link unloadModel}. */
export interface UnloadModelOptions {
  /** Nodes to unload the model from. */
  nodes: TargetNode[];
  /** Upstream model tag. */
  model: string;
  /** Longest wait for one node's answer, in ms. Default 30000. */
  timeoutMs?: number;
  /** Aborts the remaining requests. Default: none. */
  signal?: AbortSignal;
  /** Told of each node's result as it comes. Default: none. */
  onResult?: (result: UnloadResult, done: number) => void;
}

/** Unloads `model` from every node in parallel; answers one result per node. */
export async function unloadModel(options: UnloadModelOptions): Promise<UnloadResult[]> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  let done = 0;
  const one = async (node: TargetNode): Promise<UnloadResult> => {
    let result: UnloadResult;
    try {
      await emptyGenerate(node.baseUrl, { model: options.model, keep_alive: 0 }, timeoutMs, options.signal);
      const resident = await residentModels(node.baseUrl, options.signal);
      result = resident.some((name) => sameModel(name, options.model))
        ? {
            node: node.id,
            unloaded: false,
            reason: "still resident (busy with requests from outside Turnout?); Ollama unloads it once idle",
          }
        : { node: node.id, unloaded: true };
    } catch (err) {
      result = { node: node.id, unloaded: false, reason: err instanceof Error ? err.message : String(err) };
    }
    options.onResult?.(result, ++done);
    return result;
  };
  return Promise.all(options.nodes.map(one));
}
