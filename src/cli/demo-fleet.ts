/**
 * The simulated nodes of `turnout up`'s built-in demo, and how a restart finds them again. The
 * demo's routes point at the simulators' URLs, which are kept in the store; the simulators live
 * in the process. So the first start records the fleet in `<data dir>/simulated-nodes.json`
 * (ports and models), and a later start over the same data directory starts the simulators on
 * the same ports again, instead of serving routes whose nodes are gone.
 */
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../private-files.ts";
import {
  startSimulator,
  startSimulatorFleet,
  type Simulator,
  type SimulatorFleet,
  type SimulatorOptions,
} from "../sim/simulator.ts";

/** The file, in the data directory, that records the demo's simulated nodes. */
const DEMO_FLEET_FILE = "simulated-nodes.json";

/** What the file holds. */
export interface DemoFleetRecord {
  ports: number[];
  models: string[];
}

/** The demo's simulated models and their behaviour (a cold load, 150 ms to first token, 40 tokens/s). */
const DEMO_MODELS = ["qwen3:32b", "qwen3:8b"];
const DEMO_BEHAVIOUR: Omit<SimulatorOptions, "port" | "models"> = { ttftMs: 150, tokensPerSecond: 40, loadMs: 1500 };

/** Starts two demo simulators from `port` (0: free ports) and records them in `dataDir`. */
export async function startDemoFleet(dataDir: string, port: number): Promise<SimulatorFleet> {
  const fleet = await startSimulatorFleet(2, { ...DEMO_BEHAVIOUR, port, models: DEMO_MODELS });
  try {
    const record: DemoFleetRecord = { ports: fleet.nodes.map((n) => n.port), models: DEMO_MODELS };
    await mkdir(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    await writeFile(join(dataDir, DEMO_FLEET_FILE), `${JSON.stringify(record)}\n`, { mode: PRIVATE_FILE_MODE });
  } catch (err) {
    await fleet.close();
    throw err;
  }
  return fleet;
}

/**
 * Starts the simulators a previous start recorded in `dataDir` on their ports again; undefined
 * when none were recorded. A port that is taken now is an error that says what to do.
 */
export async function resumeDemoFleet(dataDir: string): Promise<SimulatorFleet | undefined> {
  const path = join(dataDir, DEMO_FLEET_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const record = JSON.parse(text) as DemoFleetRecord;
  if (!Array.isArray(record.ports) || record.ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new Error(`${path}: "ports" must be a list of port numbers`);
  }
  const nodes: Simulator[] = [];
  const close = async () => void (await Promise.all(nodes.map((n) => n.close())));
  try {
    // the seeds startSimulatorFleet gave them: 1, 2, …
    for (const [i, port] of record.ports.entries())
      nodes.push(await startSimulator({ ...DEMO_BEHAVIOUR, port, models: record.models, seed: 1 + i }));
  } catch (err) {
    await close();
    const taken = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
    throw new Error(
      `cannot restart the demo's simulated nodes on ports ${record.ports.join(", ")}${taken ? " (a port is taken)" : ""}: free the port, or start afresh without the data directory's state`,
      { cause: err },
    );
  }
  return { nodes, close };
}
