/**
 * Bench entry: one simulated Ollama node in its own process, so its CPU is not charged to the
 * proxy under test. `node bench/sim-node.ts --model M` reports its URL over IPC and accepts
 * `{ type: "knobs", knobs }` messages (e.g. a stream pace for the streaming phase).
 */
import { parseArgs } from "node:util";
import { startSimulator } from "../src/sim/simulator.ts";
import type { SimulatorKnobs } from "../src/sim/options.ts";
import { announceReady } from "./children.ts";

/** Message that changes the simulator's knobs between phases. */
export interface KnobsMessage {
  type: "knobs";
  knobs: Partial<SimulatorKnobs>;
}

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "bench-sim:1b" },
    "tokens-per-second": { type: "string", default: "0" },
  },
});

const sim = await startSimulator({
  port: 0,
  host: "127.0.0.1",
  models: [values.model],
  ttftMs: 0,
  tokensPerSecond: Number(values["tokens-per-second"]),
  // Enough slots and queue that the upstream never makes a request wait.
  parallel: 4096,
  maxQueue: 65_536,
  loadMs: 0,
  keepAlive: -1,
});

process.on("message", (message: KnobsMessage) => {
  if (message?.type !== "knobs") return;
  sim.setFaults(message.knobs);
  process.send?.({ type: "knobs-applied" });
});

announceReady(sim.url, () => sim.close());
