/**
 * A simulated Ollama node: Ollama's native and OpenAI-compatible API over plain node:http, with
 * cold loads, parallel slots, a bounded load queue, keep-alive expiry, paced token streams,
 * fault injection and deterministic output. Stands in for GPU nodes in tests, demos and
 * benchmarks.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { FaultInjector } from "./faults.ts";
import { nativeError, openAIError, sendText } from "./http-io.ts";
import { catalogEntry, type CatalogEntry } from "./model-catalog.ts";
import { ModelRuntime } from "./model-runtime.ts";
import * as native from "./native-routes.ts";
import type { Handler } from "./native-routes.ts";
import * as openai from "./openai-routes.ts";
import { DEFAULT_KNOBS, defaultKeepAliveMs, validateKnobs, type SimulatorKnobs, type SimulatorOptions } from "./options.ts";
import { SimContext, type SimEvent, type SimulatorStats } from "./sim-context.ts";

export type { SimulatorKnobs, SimulatorOptions } from "./options.ts";
export type { SimEvent, SimulatorStats } from "./sim-context.ts";

/** A running simulated node. */
export interface Simulator {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The models this node serves. */
  readonly models: readonly string[];
  /** Stops listening, ends open connections and clears every timer. */
  close(): Promise<void>;
  /** Changes knobs (faults, timings, slots) for requests from now on. */
  setFaults(partial: Partial<SimulatorKnobs>): void;
  /** Counters since start. */
  stats(): SimulatorStats;
  /** Resolves with the next event of `type` that `match` accepts (subscribe before causing it). */
  waitFor(type: SimEvent["type"], match?: (e: SimEvent) => boolean, signal?: AbortSignal): Promise<SimEvent>;
  /** Calls `listener` with every event (for tests that need the order of events); returns the
   * unsubscribe function. */
  subscribe(listener: (e: SimEvent) => void): () => void;
  /** Whether `model` is loaded (resident) now. */
  isLoaded(model: string): boolean;
}

type MethodTable = Partial<Record<string, Handler>>;

const routes = new Map<string, MethodTable>([
  ["/", { GET: native.root, HEAD: native.root }],
  ["/api/version", { GET: native.version, HEAD: native.version }],
  ["/api/chat", { POST: native.chat }],
  ["/api/generate", { POST: native.generate }],
  ["/api/embed", { POST: native.embed }],
  ["/api/embeddings", { POST: native.embeddings }],
  ["/api/tags", { GET: native.tags, HEAD: native.tags }],
  ["/api/ps", { GET: native.ps }],
  ["/api/show", { POST: native.show }],
  ["/v1/chat/completions", { POST: openai.chatCompletions }],
  ["/v1/completions", { POST: openai.completions }],
  ["/v1/embeddings", { POST: openai.embeddingsV1 }],
  ["/v1/models", { GET: openai.listModels }],
]);

function dispatch(ctx: SimContext, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const table = routes.get(path);
  if (table === undefined) {
    if (path.startsWith("/v1/models/") && path.length > 11) {
      if (req.method !== "GET") return sendText(res, 405, "405 method not allowed");
      return openai.retrieveModel(ctx, res, decodeURIComponent(path.slice(11)));
    }
    return sendText(res, 404, "404 page not found");
  }
  const handler = table[req.method ?? "GET"];
  if (handler === undefined) return sendText(res, 405, "405 method not allowed");
  const result = handler(ctx, req, res);
  if (result !== undefined) {
    result.catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      const write = path.startsWith("/v1/") ? openAIError : nativeError;
      write(res, 500, err instanceof Error ? err.message : String(err));
    });
  }
}

/** Starts one simulated node. */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  if (!Array.isArray(options.models) || options.models.length === 0) throw new RangeError("models must list at least one model");
  const knobs: SimulatorKnobs = { ...DEFAULT_KNOBS };
  for (const key of Object.keys(DEFAULT_KNOBS) as (keyof SimulatorKnobs)[]) {
    if (options[key] !== undefined) (knobs as unknown as Record<string, unknown>)[key] = options[key];
  }
  validateKnobs(knobs);
  const catalog = new Map<string, CatalogEntry>();
  for (const name of options.models) catalog.set(name, catalogEntry(name));
  const ctx = new SimContext({
    knobs,
    defaultKeepAliveMs: defaultKeepAliveMs(knobs.keepAlive),
    faults: new FaultInjector(options.seed ?? 1),
    catalog,
    version: options.version ?? "0.12.0",
  });
  ctx.runtime = new ModelRuntime(options.models, {
    knobs,
    defaultKeepAliveMs: () => ctx.defaultKeepAliveMs,
    onEvent: (e) => ctx.emit(e),
  });

  const server: Server = createServer({ keepAliveTimeout: 5000, requestTimeout: 0 }, (req, res) => dispatch(ctx, req, res));
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    models: [...options.models],
    close() {
      closed ??= new Promise<void>((resolve) => {
        ctx.runtime.dispose();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
    setFaults(partial) {
      validateKnobs(partial);
      for (const [k, v] of Object.entries(partial)) {
        if (v !== undefined && k in DEFAULT_KNOBS) (knobs as unknown as Record<string, unknown>)[k] = v;
      }
      if (partial.keepAlive !== undefined) ctx.defaultKeepAliveMs = defaultKeepAliveMs(partial.keepAlive);
      if (partial.parallel !== undefined) ctx.runtime.repump();
    },
    stats: () => ctx.stats(),
    waitFor: (type, match, signal) => ctx.waitFor(type, match, signal),
    subscribe: (listener) => ctx.subscribe(listener),
    isLoaded: (model) => ctx.runtime.isLoaded(model),
  };
}

/** A group of simulated nodes. */
export interface SimulatorFleet {
  nodes: Simulator[];
  close(): Promise<void>;
}

/**
 * Starts `count` nodes with the same options: on consecutive ports from `options.port` when it
 * is given and not 0, otherwise each on a free port.
 */
export async function startSimulatorFleet(count: number, options: SimulatorOptions): Promise<SimulatorFleet> {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be an integer >= 1, got ${count}`);
  const nodes: Simulator[] = [];
  const close = async () => {
    await Promise.all(nodes.map((n) => n.close()));
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = options.port ? options.port + i : 0;
      nodes.push(await startSimulator({ ...options, port, seed: (options.seed ?? 1) + i }));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { nodes, close };
}
