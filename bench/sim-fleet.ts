/**
 * Bench entry: a fleet of simulated Ollama nodes in one child process (their timers off the
 * bench's event loop), each with its own speed. `node bench/sim-fleet.ts --model M --node
 * TTFT_MS:TOKENS_PER_SECOND ...` starts one node per `--node` with 1 parallel slot and an
 * unbounded wait for it (a busy node queues, never answers 503), reports `{ type: "fleet", urls }`
 * over IPC, and answers `{ type: "counts" }` with each node's requests so far.
 */
import { parseArgs } from "node:util";
import { startSimulator, type Simulator } from "../src/sim/simulator.ts";

/** One node's speed. */
export interface SimNodeSpeed {
  /** Time to first token once the node's slot is free, in ms. */
  ttftMs: number;
  /** Stream pace, tokens per second. */
  tokensPerSecond: number;
}

/** Message the fleet sends once every node listens. */
export interface FleetReadyMessage {
  type: "fleet";
  urls: string[];
}

/** Answer to `{ type: "counts" }`: requests each node has received, in `--node` order. */
export interface FleetCountsMessage {
  type: "counts";
  requests: number[];
}

/** Parses "TTFT_MS:TOKENS_PER_SECOND". */
export function parseSpeed(text: string): SimNodeSpeed {
  const [ttft, tps] = text.split(":").map(Number);
  if (!(ttft >= 0) || !(tps > 0))
    throw new Error(`sim-fleet: --node wants TTFT_MS:TOKENS_PER_SECOND, got ${JSON.stringify(text)}`);
  return { ttftMs: ttft, tokensPerSecond: tps };
}

/** Formats a speed for `--node`. */
export function speedArg(s: SimNodeSpeed): string {
  return `${s.ttftMs}:${s.tokensPerSecond}`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      model: { type: "string", default: "bench-sim:1b" },
      node: { type: "string", multiple: true, default: [] },
      "output-tokens": { type: "string", default: "24" },
    },
  });
  const sims: Simulator[] = [];
  for (const spec of values.node) {
    const speed = parseSpeed(spec);
    sims.push(
      await startSimulator({
        port: 0,
        host: "127.0.0.1",
        models: [values.model],
        ttftMs: speed.ttftMs,
        tokensPerSecond: speed.tokensPerSecond,
        outputTokens: Number(values["output-tokens"]),
        parallel: 1,
        maxQueue: 65_536,
        loadMs: 0,
        keepAlive: -1,
      }),
    );
  }
  process.on("message", (message: { type?: string }) => {
    if (message?.type !== "counts") return;
    process.send?.({ type: "counts", requests: sims.map((s) => s.stats().requests) } satisfies FleetCountsMessage);
  });
  process.send?.({ type: "fleet", urls: sims.map((s) => s.url) } satisfies FleetReadyMessage);
  const stop = () => {
    const hard = setTimeout(() => process.exit(0), 3000);
    hard.unref();
    Promise.all(sims.map((s) => s.close())).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("disconnect", stop);
  process.once("SIGTERM", stop);
}
