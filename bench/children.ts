/**
 * Child processes of a bench run: each runs in its own process group so that it and whatever it
 * spawns (nginx workers) can be killed together, and every child is killed when the bench exits —
 * normally, on an error, or on SIGINT/SIGTERM.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A started child. */
export interface BenchChild {
  /** What the bench calls it in progress lines. */
  readonly name: string;
  /** Pid of the child (also its process group id). */
  readonly pid: number;
  readonly process: ChildProcess;
  /** Stops the child and its group: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<BenchChild>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL every group still running.
  process.on("exit", () => {
    for (const child of live) killGroup(child.pid, "SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      process.stderr.write(`bench: ${signal}, stopping children\n`);
      process.exit(130);
    });
  }
}

/** Spawns `command` as a tracked child in its own process group. */
export function spawnChild(name: string, command: string, args: string[], options: SpawnOptions = {}): BenchChild {
  installExitHandlers();
  const proc = spawn(command, args, { ...options, detached: true });
  if (proc.pid === undefined) throw new Error(`bench: could not start ${name} (${command})`);
  const pid = proc.pid;
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once("exit", () => resolve());
  });
  const child: BenchChild = {
    name,
    pid,
    process: proc,
    async stop(graceMs = 2000) {
      killGroup(pid, "SIGTERM");
      const timer = setTimeout(() => killGroup(pid, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      // The leader is gone; make sure nothing else of its group survives (nginx workers).
      killGroup(pid, "SIGKILL");
      live.delete(child);
    },
  };
  live.add(child);
  proc.once("exit", () => {
    if (proc.exitCode !== 0 && proc.signalCode === null && live.has(child)) {
      process.stderr.write(`bench: ${name} exited with code ${proc.exitCode}\n`);
    }
  });
  return child;
}

/** Message a Node child entry sends over IPC once it serves. */
export interface ReadyMessage {
  type: "ready";
  /** Base URL it serves on, e.g. "http://127.0.0.1:40123". */
  url: string;
}

/**
 * Starts a bench entry file (e.g. "sim-node.ts", next to this file) with the current Node and
 * waits for its {@link ReadyMessage}. The child exits when the IPC channel closes.
 */
export async function startNodeChild(
  name: string,
  entry: string,
  args: string[],
  timeoutMs = 20_000,
): Promise<{ child: BenchChild; url: string }> {
  const file = fileURLToPath(new URL(entry, import.meta.url));
  const child = spawnChild(name, process.execPath, [file, ...args], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn" },
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: ${name} not ready after ${timeoutMs} ms`)), timeoutMs);
    child.process.on("message", (message: ReadyMessage) => {
      if (message?.type !== "ready") return;
      clearTimeout(timer);
      resolve(message.url);
    });
    child.process.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`bench: ${name} exited before it was ready (code ${code}, signal ${signal})`));
    });
  });
  return { child, url };
}

/** For child entries: report readiness and exit when the parent goes away. */
export function announceReady(url: string, onParentGone: () => Promise<void>): void {
  process.send?.({ type: "ready", url } satisfies ReadyMessage);
  const stop = () => {
    const hard = setTimeout(() => process.exit(0), 3000);
    hard.unref();
    onParentGone().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("disconnect", stop);
  process.once("SIGTERM", stop);
}
