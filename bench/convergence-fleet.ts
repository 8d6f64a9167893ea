/**
 * The distributed Turnout the convergence bench measures, all on 127.0.0.1: its own nats-server
 * (JetStream, temp store), one simulated Ollama node (in the bench process: it only answers the
 * final check), one `turnout control` and N `turnout proxy` child processes, and Connect clients
 * of the control plane. Children keep their "published snapshot" / "snapshot applied" log records
 * so the bench can split the publish → ACK time into stages.
 *
 * Files (config, proxies' data dirs) live in a temp dir this module makes and removes on `close()`
 * and whenever the process exits — after children.ts has killed the children, so no proxy writes
 * into it again.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "../gen/turnout/v1/admin_pb.js";
import { FleetService, SyncState, type WatchFleetResponse } from "../gen/turnout/v1/fleet_pb.js";
import { startSimulator, type Simulator } from "../src/sim/simulator.ts";
import { startNatsServer, type NatsServer } from "../test/support/nats-server.ts";
import { startTurnoutChild, type TurnoutChild } from "./turnout-child.ts";

/** The route every change edits, and its two variants. */
export const ROUTE = "qwen3-32b";
export const VARIANTS = ["big", "small"] as const;

/** Log messages the bench times stages with (control plane, proxies). */
export const PUBLISHED_MSG = "published snapshot";
export const APPLIED_MSG = "snapshot applied";

/** Options of {@link startConvergenceFleet}. */
export interface ConvergenceFleetOptions {
  /** Number of proxies. */
  proxies: number;
  /** Progress output. */
  progress(line: string): void;
  /** Bound on starting everything, in ms. Default 60000. */
  startTimeoutMs?: number;
}

/** A running fleet. */
export interface ConvergenceFleet {
  nats: NatsServer;
  /** The temp dir (config file, proxies' data dirs). */
  dir: string;
  control: TurnoutChild;
  proxies: TurnoutChild[];
  admin: Client<typeof AdminService>;
  fleet: Client<typeof FleetService>;
  /** Stops every child, the simulator and nats-server, removes the temp dir (safe to call twice). */
  close(): Promise<void>;
}

function configYaml(simUrl: string): string {
  return `nodes: [ { id: gpu-1, url: "${simUrl}" } ]
routes:
  - name: ${ROUTE}
    default: ${VARIANTS[0]}
    variants: [ { name: ${VARIANTS[0]}, model: "qwen3:32b" }, { name: ${VARIANTS[1]}, model: "qwen3:8b" } ]
`;
}

/** Starts nats-server, the simulator, the control plane and the proxies; closes what started when a step fails. */
export async function startConvergenceFleet(options: ConvergenceFleetOptions): Promise<ConvergenceFleet> {
  const deadline = AbortSignal.timeout(options.startTimeoutMs ?? 60_000);
  const readyTimeoutMs = options.startTimeoutMs ?? 60_000;
  let nats: NatsServer | undefined;
  let sim: Simulator | undefined;
  const children: TurnoutChild[] = [];
  let dir: string | undefined;
  let closed = false;
  const removeDir = () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  };
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(children.map((c) => c.stop()));
    await sim?.close();
    await nats?.stop();
    removeDir();
  };

  try {
    nats = await startNatsServer();
    sim = await startSimulator({
      models: ["qwen3:32b", "qwen3:8b"],
      parallel: 256,
      ttftMs: 1,
      tokensPerSecond: 2000,
      outputTokens: 6,
    });
    options.progress(`nats-server ${nats.url}, simulator ${sim.url}`);

    // One synchronous step from making the dir to spawning the first child (which installs the
    // children's exit hook) to installing the dir's exit hook: an exit anywhere later kills the
    // children first, then removes the dir.
    dir = mkdtempSync(join(tmpdir(), "turnout-convergence-"));
    const configPath = join(dir, "turnout.yaml");
    writeFileSync(configPath, configYaml(sim.url));
    const controlStarting = startTurnoutChild({
      name: "control",
      args: ["control", "--nats", nats.url, "--admin-port", "0", "--id", "bench-control", "--config", configPath],
      label: "admin",
      keep: [PUBLISHED_MSG],
      readyTimeoutMs,
    });
    process.on("exit", removeDir);
    const control = await controlStarting;
    children.push(control);
    options.progress(`control plane ${control.url}`);

    const proxies = await Promise.all(
      Array.from({ length: options.proxies }, async (_, i) => {
        const id = `p${i + 1}`;
        const dataDir = join(dir!, id);
        const proxy = await startTurnoutChild({
          name: id,
          args: ["proxy", "--nats", nats!.url, "--port", "0", "--id", id, "--data-dir", dataDir],
          label: "traffic",
          keep: [APPLIED_MSG],
          readyTimeoutMs,
        });
        children.push(proxy);
        return proxy;
      }),
    );
    options.progress(`${proxies.length} proxies listening`);

    const transport = createConnectTransport({ baseUrl: control.url, httpVersion: "1.1" });
    const admin = createClient(AdminService, transport);
    const fleet = createClient(FleetService, transport);
    await waitForFleet(fleet, (view) => allSynced(view, options.proxies), deadline);
    return { nats, dir, control, proxies, admin, fleet, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** True when `count` live proxies are SYNCED on the latest version. */
export function allSynced(view: WatchFleetResponse, count: number): boolean {
  const latest = view.latest?.version ?? 0n;
  const synced = view.proxies.filter((p) => p.sync === SyncState.SYNCED && p.status?.appliedVersion === latest);
  return latest > 0n && synced.length === count;
}

/** Resolves with the first WatchFleet view that satisfies `done`; rejects when `signal` aborts first. */
export async function waitForFleet(
  fleet: Client<typeof FleetService>,
  done: (view: WatchFleetResponse) => boolean,
  signal: AbortSignal,
): Promise<WatchFleetResponse> {
  let last: WatchFleetResponse | undefined;
  try {
    for await (const view of fleet.watchFleet({}, { signal })) {
      last = view;
      if (done(view)) return view;
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
  const synced = last?.proxies.filter((p) => p.sync === SyncState.SYNCED).length ?? 0;
  throw new Error(
    `the fleet did not reach the expected state in time (last view: ${synced} of ${last?.proxies.length ?? 0} proxies synced on version ${last?.latest?.version ?? 0n})`,
  );
}
