/**
 * `turnout sim …`: runs simulated Ollama nodes from command-line flags.
 */
import { startSimulatorFleet } from "./simulator.ts";
import type { SimulatorOptions } from "./options.ts";

/** Usage text of `turnout sim`. */
export const SIM_USAGE = `Usage: turnout sim [flags]

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
  --keep-alive D               default keep-alive: seconds, Go duration ("5m") or negative (default 5m)
  --error-rate F               fraction of requests failing with 500 before the first byte (default 0)
  --mid-stream-failure-rate F  fraction of streams ending with an in-band error (default 0)
  --slow-headers-ms MS         extra delay before response headers (default 0)
  --output-tokens N            answer length without num_predict/max_tokens (default 12)
  --seed N                     seed of the fault PRNG (default 1)
  --help                       show this text
`;

type Kind = "int" | "number" | "string" | "list" | "keepalive";
const flags: Record<string, { key: string; kind: Kind }> = {
  "--port": { key: "port", kind: "int" },
  "--host": { key: "host", kind: "string" },
  "--nodes": { key: "nodes", kind: "int" },
  "--models": { key: "models", kind: "list" },
  "--ttft-ms": { key: "ttftMs", kind: "number" },
  "--tokens-per-second": { key: "tokensPerSecond", kind: "number" },
  "--parallel": { key: "parallel", kind: "int" },
  "--max-queue": { key: "maxQueue", kind: "int" },
  "--load-ms": { key: "loadMs", kind: "number" },
  "--keep-alive": { key: "keepAlive", kind: "keepalive" },
  "--error-rate": { key: "errorRate", kind: "number" },
  "--mid-stream-failure-rate": { key: "midStreamFailureRate", kind: "number" },
  "--slow-headers-ms": { key: "slowHeadersMs", kind: "number" },
  "--output-tokens": { key: "outputTokens", kind: "int" },
  "--seed": { key: "seed", kind: "int" },
};

/** Parsed `turnout sim` flags. */
export interface SimCommandConfig {
  nodes: number;
  options: SimulatorOptions;
  help: boolean;
}

/** Parses `turnout sim` flags (`--flag value` or `--flag=value`); throws naming a bad flag. */
export function parseSimArgs(argv: readonly string[]): SimCommandConfig {
  const out: Record<string, unknown> = {};
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = flags[name];
    if (!spec) throw new Error(`turnout sim: unknown flag ${JSON.stringify(name)} (see --help)`);
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith("--"))) throw new Error(`turnout sim: flag ${name} needs a value`);
    value = value.trim();
    const bad = (what: string) => new Error(`turnout sim: flag ${name}: ${what}, got ${JSON.stringify(value)}`);
    switch (spec.kind) {
      case "int": {
        if (!/^-?\d+$/.test(value)) throw bad("expected an integer");
        out[spec.key] = Number(value);
        break;
      }
      case "number": {
        const n = Number(value);
        if (value === "" || !Number.isFinite(n)) throw bad("expected a number");
        out[spec.key] = n;
        break;
      }
      case "list": {
        const list = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
        if (list.length === 0) throw bad("expected a comma-separated list");
        out[spec.key] = list;
        break;
      }
      case "keepalive":
        out[spec.key] = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
        break;
      default:
        out[spec.key] = value;
    }
  }
  const { nodes = 1, ...rest } = out as { nodes?: number } & Record<string, unknown>;
  if (nodes < 1) throw new Error(`turnout sim: flag --nodes: expected an integer >= 1, got ${nodes}`);
  const options = { port: 11434, models: ["qwen3:32b", "qwen3:8b"], ...rest } as SimulatorOptions;
  if (options.port! < 0 || options.port! + nodes - 1 > 65535) throw new Error(`turnout sim: flag --port: out of range, got ${options.port}`);
  return { nodes, options, help };
}

/** Flag names of the knobs, to name the flag when a knob value is rejected. */
const flagOfKey = Object.fromEntries(Object.entries(flags).map(([flag, s]) => [s.key, flag]));

/**
 * Runs `turnout sim`: starts the nodes and prints one line per node. With `--help` prints the
 * usage and starts nothing.
 */
export async function runSimCommand(argv: string[], print: (line: string) => void = (l) => console.log(l)): Promise<{ close(): Promise<void> }> {
  const config = parseSimArgs(argv);
  if (config.help) {
    print(SIM_USAGE);
    return { close: async () => {} };
  }
  let fleet;
  try {
    fleet = await startSimulatorFleet(config.nodes, config.options);
  } catch (err) {
    const msg = (err as Error).message;
    const key = /^(\w+)\b/.exec(msg)?.[1];
    const flag = key ? flagOfKey[key] : undefined;
    throw new Error(flag ? `turnout sim: flag ${flag}: ${msg}` : `turnout sim: ${msg}`, { cause: err });
  }
  fleet.nodes.forEach((node, i) => print(`sim node ${i} listening on ${node.url} models: ${node.models.join(",")}`));
  return { close: () => fleet.close() };
}
