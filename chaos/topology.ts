/**
 * The chaos suite's fleet, as an operator runs it: one nats-server, control planes (`turnout
 * control --nats`) and proxies (`turnout proxy --nats`, each with its own data dir) as child
 * processes, and simulated Ollama nodes (`turnout sim`) as child processes too, so that each can be
 * killed with SIGKILL and started again on the same port. Every start and kill is logged with its
 * time, so the traffic's records can tell a failure on a killed process from one on a survivor.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort, startNatsServer, type NatsServer } from "../test/support/nats-server.ts";
import { startTurnout, type TurnoutProcess } from "../test/support/turnout-process.ts";
import { until } from "../test/support/until.ts";

const cli = new URL("../bin/turnout.js", import.meta.url).pathname;

/** The route every request asks for, and its variants' models. */
export const ROUTE = "qwen3-32b";
/** The node the admin writer changes (its labels); no route uses its model. */
export const MARKER_NODE = "chaos-marker";

/** A process of the fleet that can be killed and started again on the same port. */
export interface Member {
  readonly name: string;
  /** Its base URL (traffic port, admin port or node URL). */
  readonly url: string;
  alive(): boolean;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** Starts it again (same port, same data dir). */
  start(): Promise<void>;
  /** SIGTERM and wait for the exit (a clean shutdown). */
  stop(): Promise<void>;
}

/** A kill or start of a member, at `at` (performance.now()). */
export interface FleetEvent {
  at: number;
  member: string;
  /** `ready`: serving again after a start. */
  what: "kill" | "start" | "ready";
}

export interface Topology {
  readonly nats: NatsServer;
  readonly sims: Member[];
  readonly controls: Member[];
  readonly proxies: Member[];
  readonly events: FleetEvent[];
  /** Whether `member` was down (killed and not yet serving again) at any time in [from, to]. */
  downDuring(member: string, from: number, to: number): boolean;
  killNats(): Promise<void>;
  restartNats(): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startTopology}. */
export interface TopologyOptions {
  /** Working directory (config, data dirs). */
  dir: string;
  controls: number;
  proxies: number;
  sims: number;
  /** Child processes' log level. */
  logLevel: string;
}

function config(simUrls: string[]): string {
  const nodes = simUrls.map((url, i) => `  - { id: sim-${i + 1}, url: "${url}", models: ["qwen3:32b", "qwen3:8b"] }`);
  return `nodes:
${nodes.join("\n")}
  - { id: ${MARKER_NODE}, url: "${simUrls[0]}", models: ["chaos:none"] }
routes:
  - name: ${ROUTE}
    default: big
    variants: [ { name: big, model: "qwen3:32b" }, { name: small, model: "qwen3:8b" } ]
    split: { big: 50, small: 50 }
`;
}

/** A simulated node on `port`, as its own process. */
function simMember(name: string, port: number, log: (e: FleetEvent) => void): Member {
  let child: ChildProcess | undefined;
  const url = `http://127.0.0.1:${port}`;
  const args = [cli, "sim", "--port", String(port), "--ttft-ms", "20", "--tokens-per-second", "200", "--parallel", "64"];
  args.push("--output-tokens", "16", "--models", "qwen3:32b,qwen3:8b");
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const end = async (signal: NodeJS.Signals) => {
    if (!alive()) return;
    const exited = once(child!, "exit");
    child!.kill(signal);
    await exited;
  };
  return {
    name,
    url,
    alive,
    async start() {
      child = spawn(process.execPath, args, { stdio: "ignore" });
      log({ at: performance.now(), member: name, what: "start" });
      await until(`${name} answers`, async () => (await fetch(`${url}/api/version`).catch(() => undefined))?.ok === true, {
        timeoutMs: 15_000,
      });
      log({ at: performance.now(), member: name, what: "ready" });
    },
    async kill() {
      log({ at: performance.now(), member: name, what: "kill" });
      await end("SIGKILL");
    },
    stop: () => end("SIGTERM"),
  };
}

/** A `turnout control|proxy` member started by `args` on a fixed port. */
function turnoutMember(
  name: string,
  url: string,
  args: string[],
  label: "admin" | "traffic",
  env: Record<string, string>,
  log: (e: FleetEvent) => void,
): Member {
  let proc: TurnoutProcess | undefined;
  const alive = () => proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;
  return {
    name,
    url,
    alive,
    async start() {
      log({ at: performance.now(), member: name, what: "start" });
      proc = await startTurnout(args, label, env);
      log({ at: performance.now(), member: name, what: "ready" });
    },
    async kill() {
      log({ at: performance.now(), member: name, what: "kill" });
      await proc?.kill();
    },
    stop: async () => proc?.stop(),
  };
}

/** Starts the whole fleet and waits until every proxy serves the route. */
export async function startTopology(options: TopologyOptions): Promise<Topology> {
  const events: FleetEvent[] = [];
  const log = (e: FleetEvent) => events.push(e);
  const nats = await startNatsServer();
  const env = { LOG_LEVEL: options.logLevel };
  const sims: Member[] = [];
  for (let i = 1; i <= options.sims; i++) sims.push(simMember(`sim-${i}`, await freePort(), log));
  await Promise.all(sims.map((s) => s.start()));
  const configPath = join(options.dir, "turnout.yaml");
  await writeFile(configPath, config(sims.map((s) => s.url)));
  const controls: Member[] = [];
  for (let i = 1; i <= options.controls; i++) {
    const port = await freePort();
    const args = ["control", "--nats", nats.url, "--admin-port", String(port), "--id", `c${i}`, "--config", configPath];
    controls.push(turnoutMember(`c${i}`, `http://127.0.0.1:${port}`, args, "admin", env, log));
  }
  for (const c of controls) await c.start();
  const proxies: Member[] = [];
  for (let i = 1; i <= options.proxies; i++) {
    const port = await freePort();
    const args = ["proxy", "--nats", nats.url, "--port", String(port), "--id", `p${i}`, "--data-dir", join(options.dir, `p${i}`)];
    proxies.push(turnoutMember(`p${i}`, `http://127.0.0.1:${port}`, args, "traffic", env, log));
  }
  await Promise.all(proxies.map((p) => p.start()));
  for (const p of proxies) {
    await until(`${p.name} serves ${ROUTE}`, async () => {
      const res = await fetch(`${p.url}/api/tags`).catch(() => undefined);
      return res?.ok === true && (await res.text()).includes(ROUTE);
    });
  }
  return {
    nats,
    sims,
    controls,
    proxies,
    events,
    downDuring(member, from, to) {
      let downSince: number | undefined;
      for (const e of events) {
        if (e.member !== member) continue;
        if (e.what === "kill") downSince = e.at;
        else if (e.what === "ready" && downSince !== undefined) {
          if (downSince <= to && e.at >= from) return true;
          downSince = undefined;
        }
      }
      return downSince !== undefined && downSince <= to;
    },
    async killNats() {
      log({ at: performance.now(), member: "nats", what: "kill" });
      await nats.kill();
    },
    async restartNats() {
      log({ at: performance.now(), member: "nats", what: "start" });
      await nats.restart();
    },
    async close() {
      await Promise.all([...proxies, ...controls, ...sims].map((m) => m.kill()));
      await nats.stop();
    },
  };
}
