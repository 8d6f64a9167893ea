/**
 * The simulator's options and runtime knobs, their defaults, and Ollama's `keep_alive` parsing.
 */
import { KEEP_ALIVE, parseDuration, parseGoDuration } from "../duration.ts";

/** Knobs that can change while the simulator runs (see `Simulator.setFaults`). */
export interface SimulatorKnobs {
  /** Time to first token once the model is loaded and a slot is free, in ms. Default 0. */
  ttftMs: number;
  /** Pace of the stream: one token per chunk, `1000 / tokensPerSecond` ms apart. 0 = unpaced
   * (every chunk written at once). Default 0. */
  tokensPerSecond: number;
  /** Parallel request slots per loaded model (`OLLAMA_NUM_PARALLEL`); more requests wait. Default 1. */
  parallel: number;
  /** Bound on requests waiting for a model load (`OLLAMA_MAX_QUEUE`); beyond it an immediate 503.
   * Default 512. */
  maxQueue: number;
  /** Time a cold model takes to load, in ms. No header is sent before it is loaded. Default 0. */
  loadMs: number;
  /** Default keep-alive after a model's last request: seconds (number), or duration text
   * ("5m", "300ms", "7d"; bare numbers are seconds), negative for forever. Default "5m". */
  keepAlive: number | string;
  /** Fraction (0..1) of inference requests that fail with a 500 before the first byte. Default 0. */
  errorRate: number;
  /** Fraction (0..1) of streams that send some chunks, then an in-band error, then end. Default 0. */
  midStreamFailureRate: number;
  /** Extra delay before the response headers of inference requests, in ms. Default 0. */
  slowHeadersMs: number;
  /** Answer length in tokens when the request sets no `num_predict`/`max_tokens`. Default 12. */
  outputTokens: number;
}

/** Options of `startSimulator`. */
export interface SimulatorOptions extends Partial<SimulatorKnobs> {
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Interface to listen on. Default "127.0.0.1". */
  host?: string;
  /** Model tags this node serves, e.g. `["qwen3:32b", "qwen3:8b"]`. Others answer 404. */
  models: string[];
  /** Seed of the fault-injection PRNG: the same seed and request order give the same faults.
   * Default 1. */
  seed?: number;
  /** Version reported by `/api/version`. Default "0.12.0". */
  version?: string;
}

/** Knob defaults, matching Ollama's own where Ollama has one. */
export const DEFAULT_KNOBS: Readonly<SimulatorKnobs> = {
  ttftMs: 0,
  tokensPerSecond: 0,
  parallel: 1,
  maxQueue: 512,
  loadMs: 0,
  keepAlive: "5m",
  errorRate: 0,
  midStreamFailureRate: 0,
  slowHeadersMs: 0,
  outputTokens: 12,
};

/** Keep-alive meaning "never expire" (a negative duration in Ollama). */
export const FOREVER = -1;

/**
 * Converts a request's `keep_alive` (as Ollama reads it) to ms, or {@link FOREVER}.
 * Numbers are seconds, strings Go durations (no `d`, no bare numbers); anything negative means
 * forever. Throws Ollama's message.
 */
export function keepAliveMs(value: unknown): number {
  if (typeof value === "number" && Number.isFinite(value)) return value < 0 ? FOREVER : value * 1000;
  if (typeof value === "string") {
    const ms = parseGoDuration(value);
    return ms < 0 ? FOREVER : ms;
  }
  throw new Error(`Unsupported type: '${value === null ? "nil" : typeof value}'`);
}

/**
 * Converts the node's default keep-alive (the `keepAlive` knob, like `OLLAMA_KEEP_ALIVE`) to ms,
 * or {@link FOREVER}: seconds, or text of Turnout's duration grammar with bare numbers as
 * seconds ({@link KEEP_ALIVE}); negative means forever. Throws saying what is accepted.
 */
export function defaultKeepAliveMs(value: number | string): number {
  const r = parseDuration(value, KEEP_ALIVE);
  if (!r.ok) throw new RangeError(`keepAlive: ${r.message}`);
  return r.ms < 0 ? FOREVER : r.ms;
}

/** Checks knob values, naming the first bad one. */
export function validateKnobs(k: Partial<SimulatorKnobs>): void {
  const nonNegative = ["ttftMs", "tokensPerSecond", "loadMs", "slowHeadersMs", "maxQueue"] as const;
  for (const name of nonNegative) {
    const v = k[name];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name} must be a number >= 0, got ${v}`);
  }
  for (const name of ["parallel", "outputTokens"] as const) {
    const v = k[name];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new RangeError(`${name} must be an integer >= 1, got ${v}`);
  }
  for (const name of ["errorRate", "midStreamFailureRate"] as const) {
    const v = k[name];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= 1))
      throw new RangeError(`${name} must be between 0 and 1, got ${v}`);
  }
  if (k.keepAlive !== undefined) defaultKeepAliveMs(k.keepAlive);
}
