/**
 * The targets of one bench run, all in front of the same simulated Ollama node (its own child
 * process): the node itself (baseline), a bare undici proxy, Turnout's proxy and nginx when
 * installed. Each proxy is a child process whose CPU the bench reads from /proc.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startNodeChild, type BenchChild } from "./children.ts";
import { findNginx, startNginx } from "./nginx-proxy.ts";
import { newApiToken } from "../src/auth/api-token.ts";
import type { KnobsMessage } from "./sim-node.ts";
import type { SimulatorKnobs } from "../src/sim/options.ts";

/** The model tag the simulated node serves. */
export const SIM_MODEL = "bench-sim:1b";
/** The route name Turnout serves it under (see turnout-proxy.ts). */
const TURNOUT_ROUTE = "bench";

/** One thing the load is sent to. */
export interface Target {
  /**
   * Short name in the tables: "direct", "bare undici", "turnout core" (the routing proxy alone:
   * no status reports, no outcome log), "core + experiment" (the same with a running A/B experiment on the route),
   * "core + keys" (the same with client keys required, every request with a key that has every limit set),
   * "turnout" (the proxy with status reports and outcomes batched to the log),
   * "turnout up" (proxy + control plane with live metrics in one process), "nginx".
   */
  name: string;
  url: string;
  /** Model name clients send to this target. */
  model: string;
  /** Pid of the proxy process (tree) to charge CPU to; undefined for the direct baseline. */
  pid?: number;
  /** The `user` the requests carry (the experiment row's assignment unit); none by default. */
  user?: string;
  /** Headers the requests carry (the keys row's Authorization); none by default. */
  headers?: Record<string, string>;
}

/** A started set of targets. */
export interface Targets {
  /** The simulated node's process (its CPU is reported as upstream cost). */
  sim: BenchChild;
  targets: Target[];
  /** Targets that could not run, with why. */
  skipped: string[];
  /** Changes the simulator's knobs (e.g. the stream pace) and waits until applied. */
  setSimKnobs(knobs: Partial<SimulatorKnobs>): Promise<void>;
  /** Stops every child, in reverse order of start. */
  close(): Promise<void>;
}

/** Options of {@link startTargets}. */
export interface TargetOptions {
  /** Temp dir for nginx's files and Turnout's data dir. */
  tmpDir: string;
  /** Leave nginx out even when it is installed. Default false. */
  skipNginx?: boolean;
  /** Progress output. */
  progress(line: string): void;
}

/** Starts the simulator and every available target. */
export async function startTargets(options: TargetOptions): Promise<Targets> {
  const children: BenchChild[] = [];
  const skipped: string[] = [];
  const targets: Target[] = [];
  const close = async () => {
    if (children.length > 0) options.progress("stopping children");
    for (const child of children.reverse()) await child.stop();
  };
  try {
    options.progress("starting simulated Ollama node");
    const sim = await startNodeChild("simulator", "sim-node.ts", ["--model", SIM_MODEL]);
    children.push(sim.child);
    targets.push({ name: "direct", url: sim.url, model: SIM_MODEL });

    options.progress("starting bare undici proxy");
    const bare = await startNodeChild("bare-proxy", "bare-proxy.ts", ["--upstream", sim.url]);
    children.push(bare.child);
    targets.push({ name: "bare undici", url: bare.url, model: SIM_MODEL, pid: bare.child.pid });

    const root = fileURLToPath(new URL("..", import.meta.url));
    if (existsSync(join(root, "src/proxy/proxy.ts"))) {
      // The keys row's client key (made here, hashed by the child into its snapshot).
      const key = newApiToken().token;
      for (const [name, mode] of [
        ["turnout core", "core"],
        ["core + experiment", "experiment"],
        ["core + keys", "keys"],
        ["turnout", "proxy"],
        ["turnout up", "up"],
      ] as const) {
        options.progress(`starting Turnout (${name})`);
        const turnout = await startNodeChild(`turnout-${mode}`, "turnout-proxy.ts", [
          "--upstream",
          sim.url,
          "--model",
          SIM_MODEL,
          "--mode",
          mode,
          "--data-dir",
          join(options.tmpDir, `turnout-data-${mode}`),
          ...(mode === "keys" ? ["--key-token", key] : []),
        ]);
        children.push(turnout.child);
        targets.push({
          name,
          url: turnout.url,
          model: TURNOUT_ROUTE,
          pid: turnout.child.pid,
          user: mode === "experiment" ? "bench-user" : undefined,
          headers: mode === "keys" ? { authorization: `Bearer ${key}` } : undefined,
        });
      }
    } else skipped.push("turnout: src/proxy/proxy.ts is not there yet");

    const nginx = options.skipNginx ? undefined : await findNginx();
    if (nginx) {
      options.progress("starting nginx");
      const started = await startNginx(nginx, sim.url, join(options.tmpDir, "nginx"));
      children.push(started.child);
      targets.push({ name: "nginx", url: started.url, model: SIM_MODEL, pid: started.child.pid });
    } else skipped.push(options.skipNginx ? "nginx: --no-nginx" : "nginx: not installed (apt-get install nginx)");

    const setSimKnobs = (knobs: Partial<SimulatorKnobs>) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("simulator did not apply knobs")), 5000);
        sim.child.process.once("message", () => {
          clearTimeout(timer);
          resolve();
        });
        sim.child.process.send({ type: "knobs", knobs } satisfies KnobsMessage);
      });
    return { sim: sim.child, targets, skipped, setSimKnobs, close };
  } catch (err) {
    await close();
    throw err;
  }
}
