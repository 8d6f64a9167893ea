/**
 * `turnout sim …`: runs simulated Ollama nodes from command-line flags (`node:util` `parseArgs`).
 * A bad flag or value is an `invalid_argument` naming the flag, which `turnout` prints as one
 * line with exit code 2.
 */
import { parseArgs } from "node:util";
import { KEEP_ALIVE, MS_FLAG, parseDuration } from "../duration.ts";
import { ErrorCode, TurnoutError } from "../errors.ts";
import { startSimulatorFleet } from "./simulator.ts";
import { validateKnobs, type SimulatorKnobs, type SimulatorOptions } from "./options.ts";

/** Usage text of `turnout sim`. */
const SIM_USAGE = `Usage: turnout sim [flags]

Runs simulated Ollama nodes (native and OpenAI-compatible API) for tests, demos and benchmarks.

Flags:
  --port P                     first port (default 11434; node i listens on P+i; 0 = any free port)
  --host H                     interface (default 127.0.0.1)
  --nodes N                    number of nodes (default 1)
  --models a,b                 models served (default qwen3:32b,qwen3:8b)
  --ttft-ms MS                 time to first token once loaded (default 0)
  --tokens-per-second N        stream pace, one token per chunk; 0 = unpaced (default 0)
  --parallel N                 parallel slots per model (default 1)
  --max-queue N                requests that may wait for a model load before 503 (default 512)
  --load-ms MS                 cold model load time (default 0)
  --keep-alive D               default keep-alive: seconds, a duration ("5m", "1h30m", "7d") or negative (default 5m)
  --error-rate F               fraction of requests failing with 500 before the first byte (default 0)
  --mid-stream-failure-rate F  fraction of streams ending with an in-band error (default 0)
  --slow-headers-ms MS         extra delay before response headers (default 0)
  --output-tokens N            answer length without num_predict/max_tokens (default 12)
  --seed N                     seed of the fault PRNG (default 1)
  --help                       show this text
MS is a number of milliseconds or a duration such as 250ms or 1.5s.
`;

type Kind = "int" | "number" | "ms" | "string" | "list" | "keepalive";
type Key = keyof SimulatorKnobs | "port" | "host" | "nodes" | "models" | "seed";
const flags: Record<string, { key: Key; kind: Kind }> = {
  port: { key: "port", kind: "int" },
  host: { key: "host", kind: "string" },
  nodes: { key: "nodes", kind: "int" },
  models: { key: "models", kind: "list" },
  "ttft-ms": { key: "ttftMs", kind: "ms" },
  "tokens-per-second": { key: "tokensPerSecond", kind: "number" },
  parallel: { key: "parallel", kind: "int" },
  "max-queue": { key: "maxQueue", kind: "int" },
  "load-ms": { key: "loadMs", kind: "ms" },
  "keep-alive": { key: "keepAlive", kind: "keepalive" },
  "error-rate": { key: "errorRate", kind: "number" },
  "mid-stream-failure-rate": { key: "midStreamFailureRate", kind: "number" },
  "slow-headers-ms": { key: "slowHeadersMs", kind: "ms" },
  "output-tokens": { key: "outputTokens", kind: "int" },
  seed: { key: "seed", kind: "int" },
};
const options = {
  ...Object.fromEntries(Object.keys(flags).map((name) => [name, { type: "string" as const }])),
  help: { type: "boolean", short: "h" },
} as const;

/** Parsed `turnout sim` flags. */
export interface SimCommandConfig {
  nodes: number;
  options: SimulatorOptions;
  help: boolean;
}

const usage = (message: string) => new TurnoutError(ErrorCode.InvalidArgument, `turnout sim: ${message}`);

/** The value of `--<name>` as its knob or option, or a usage error naming the flag. */
function flagValue(name: string, kind: Kind, text: string): unknown {
  const value = text.trim();
  const bad = (what: string) => usage(`flag --${name}: ${what}, got ${JSON.stringify(value)}`);
  switch (kind) {
    case "int":
      if (!/^-?\d+$/.test(value)) throw bad("expected an integer");
      return Number(value);
    case "number": {
      const n = Number(value);
      if (value === "" || !Number.isFinite(n)) throw bad("expected a number");
      return n;
    }
    case "ms": {
      const r = parseDuration(value, MS_FLAG);
      if (!r.ok) throw usage(`flag --${name}: ${r.message}`);
      return r.ms;
    }
    case "list": {
      const list = value
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
      if (list.length === 0) throw bad("expected a comma-separated list");
      return list;
    }
    case "keepalive": {
      const r = parseDuration(value, KEEP_ALIVE);
      if (!r.ok) throw usage(`flag --${name}: ${r.message}`);
      return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    }
    default:
      return value;
  }
}

/**
 * Parses `turnout sim` flags (`--flag value` or `--flag=value`; a value may start with "-", as in
 * `--keep-alive -1`). Throws `invalid_argument` naming the flag: unknown flags, missing or bad
 * values, stray arguments.
 */
export function parseSimArgs(argv: readonly string[]): SimCommandConfig {
  // Not strict: a strict parse refuses `--keep-alive -1`; the tokens are checked below instead.
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const out: Record<string, unknown> = {};
  let help = false;
  for (const token of tokens) {
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") throw usage(`unexpected argument ${JSON.stringify(token.value)} (see --help)`);
    if (token.name === "help") {
      if (token.value !== undefined) throw usage(`flag ${token.rawName} takes no value`);
      help = true;
      continue;
    }
    const spec = flags[token.name];
    if (spec === undefined) throw usage(`unknown flag ${JSON.stringify(token.rawName)} (see --help)`);
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--")))
      throw usage(`flag ${token.rawName} needs a value`);
    const value = flagValue(token.name, spec.kind, token.value);
    if (spec.key !== "port" && spec.key !== "host" && spec.key !== "nodes" && spec.key !== "models" && spec.key !== "seed") {
      try {
        validateKnobs({ [spec.key]: value });
      } catch (err) {
        throw usage(`flag --${token.name}: ${(err as Error).message}`);
      }
    }
    out[spec.key] = value;
  }
  const { nodes = 1, ...rest } = out as { nodes?: number } & Record<string, unknown>;
  if (nodes < 1) throw usage(`flag --nodes: expected an integer >= 1, got ${nodes}`);
  const config = { port: 11434, models: ["qwen3:32b", "qwen3:8b"], ...rest } as SimulatorOptions;
  if (config.port! < 0 || config.port! + nodes - 1 > 65535) throw usage(`flag --port: out of range, got ${config.port}`);
  return { nodes, options: config, help };
}

/**
 * Runs `turnout sim`: starts the nodes and prints one line per node. With `--help` prints the
 * usage and starts nothing. Bad flags reject with `invalid_argument` before anything starts.
 */
export async function runSimCommand(
  argv: string[],
  print: (line: string) => void = (l) => console.log(l),
): Promise<{ close(): Promise<void> }> {
  const config = parseSimArgs(argv);
  if (config.help) {
    print(SIM_USAGE);
    return { close: async () => {} };
  }
  let fleet;
  try {
    fleet = await startSimulatorFleet(config.nodes, config.options);
  } catch (err) {
    throw new Error(`turnout sim: ${(err as Error).message}`, { cause: err });
  }
  fleet.nodes.forEach((node, i) => print(`sim node ${i} listening on ${node.url} models: ${node.models.join(",")}`));
  return { close: () => fleet.close() };
}
