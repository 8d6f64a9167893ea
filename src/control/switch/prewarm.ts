/**
 * Pre-warm: load a variant's model on every node that serves it before any traffic moves there,
 * and confirm it is resident. Per node, in parallel: Ollama's empty generate with the variant's
 * `keep_alive` (a cold load sends nothing until it is done, so the timeout is the first-byte
 * timeout), then `GET /api/ps` must list the model. Only `signal` cancels a warm — never the RPC
 * caller: a client that disconnects mid-load would make Ollama abort the load.
 *
 * `warmVariant` is the stage switches and rollouts share; a node that cannot load the model
 * rejects it with FailedPrecondition naming the node and the reason (the other nodes' warms are
 * stopped, nothing else is touched).
 */
import { ollamaKeepAlive } from "../../duration.ts";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import { emptyGenerate, residentModels, sameModel } from "./ollama-admin.ts";
import type { TargetNode } from "./variant-nodes.ts";

/** Keep-alive of a pre-warm when the variant sets none. */
export const DEFAULT_WARM_KEEP_ALIVE = "30m";

/** One step of a pre-warm. */
export interface WarmProgress {
  /** "warming": the load request went to `node`; "resident": `/api/ps` on `node` lists the model. */
  phase: "warming" | "resident";
  /** Node id. */
  node: string;
  /** Position of the node in the list, 1-based ("node 2/3"). */
  index: number;
  /** Nodes with the model resident so far. */
  done: number;
  /** Nodes to warm. */
  total: number;
  /** Milliseconds since the warm started. */
  elapsedMs: number;
}

/** Options of {@link warmVariant}. */
export interface WarmVariantOptions {
  /** Nodes serving the variant (see `variantNodes`); at least one. */
  nodes: { id: string; baseUrl: string }[];
  /** Upstream model tag. */
  model: string;
  /** Ollama keep_alive of the load, e.g. the variant's `keep_alive` or "30m". */
  keepAlive: string;
  /** Longest wait for one node's load, in ms (the snapshot's first-byte timeout). */
  timeoutMs: number;
  /** Aborts the warm (an abort of the switch or rollout); the rejection is `aborted`. Default: none. */
  signal?: AbortSignal;
  /** Told of every step. Default: none. */
  onProgress?: (p: WarmProgress) => void;
  /** Ollama options of the variant, sent with the load so the runner matches traffic. Default: none. */
  options?: Record<string, unknown>;
}

/** Loads `model` on every node and resolves once each reports it resident. */
export async function warmVariant(options: WarmVariantOptions): Promise<void> {
  const { nodes, model } = options;
  if (nodes.length === 0)
    throw new TurnoutError(ErrorCode.FailedPrecondition, `no node serves model ${JSON.stringify(model)}; nothing to warm`);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  // One node failing stops the others: the switch is off, so their loads are wasted.
  const internal = new AbortController();
  const signal = options.signal === undefined ? internal.signal : AbortSignal.any([internal.signal, options.signal]);
  let done = 0;
  let failure: TurnoutError | undefined;

  const warmOne = async (node: TargetNode, index: number): Promise<void> => {
    options.onProgress?.({ phase: "warming", node: node.id, index, done, total: nodes.length, elapsedMs: elapsed() });
    try {
      const reason = await emptyGenerate(
        node.baseUrl,
        { model, keep_alive: ollamaKeepAlive(options.keepAlive), options: options.options },
        options.timeoutMs,
        signal,
      );
      if (reason !== "load" && reason !== "") throw new Error(`answered done_reason ${JSON.stringify(reason)} instead of "load"`);
      const resident = await residentModels(node.baseUrl, signal);
      if (!resident.some((name) => sameModel(name, model))) {
        throw new Error(
          `loaded it, but /api/ps does not list it (resident: ${resident.join(", ") || "none"}); was it evicted at once (OLLAMA_MAX_LOADED_MODELS)?`,
        );
      }
    } catch (err) {
      // The first node to fail names the reason; the siblings it stopped add nothing.
      if (signal.aborted) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      failure = new TurnoutError(
        ErrorCode.FailedPrecondition,
        `node ${JSON.stringify(node.id)} cannot load model ${JSON.stringify(model)}: ${reason}`,
        { cause: err },
      );
      internal.abort();
      throw failure;
    }
    done++;
    options.onProgress?.({ phase: "resident", node: node.id, index, done, total: nodes.length, elapsedMs: elapsed() });
  };

  await Promise.allSettled(nodes.map((n, i) => warmOne(n, i + 1)));
  if (failure !== undefined) throw failure;
  if (options.signal?.aborted)
    throw new TurnoutError(ErrorCode.Aborted, `pre-warm of ${JSON.stringify(model)} aborted${reasonOf(options.signal)}`, {
      cause: options.signal.reason,
    });
}

/** ": <reason>" of an aborted signal whose reason is an Error of ours, else "". */
export function reasonOf(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof TurnoutError ? `: ${r.message}` : "";
}
