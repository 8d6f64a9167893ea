/**
 * Runs `turnout` subcommands as child processes for integration tests (so they can be killed
 * like a crash), and waits for the line each prints once it listens.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";

const cli = new URL("../../src/cli/turnout.ts", import.meta.url).pathname;
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** A running `turnout` child. */
export interface TurnoutProcess {
  /** The URL the process printed (admin URL for `control`, traffic URL for `proxy`). */
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash) and wait for the exit. */
  kill(): Promise<void>;
}

/**
 * Starts `turnout <args>` and resolves with the first URL after `label` ("admin" or "traffic") in
 * its ready line. Rejects with its stderr when it exits first. `env` is added to the process's
 * environment (e.g. `LOG_LEVEL`, default `TURNOUT_TEST_LOG_LEVEL` or "warn"; a value of undefined
 * removes the variable).
 */
export async function startTurnout(
  args: string[],
  label: "admin" | "traffic",
  env: Record<string, string | undefined> = {},
): Promise<TurnoutProcess> {
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LOG_LEVEL: process.env.TURNOUT_TEST_LOG_LEVEL ?? "warn", ...env },
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let err = "";
  const exited = once(child, "exit");
  const url = await new Promise<string>((resolve, reject) => {
    const pattern = new RegExp(`turnout \\S+ .*${label} (https?://\\S+)`);
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
      const m = pattern.exec(err);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`turnout ${args[0]} exited (${code ?? signal}) before listening:\n${err}`)),
    );
  });
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await exited;
  };
  return { url, child, stderr: () => err, stop: () => end("SIGTERM"), kill: () => end("SIGKILL") };
}

/** Runs `turnout <args>` to its exit; answers the exit code and what it wrote to stderr. */
export async function runTurnout(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LOG_LEVEL: "silent", ...env },
  });
  running.add(child);
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, "close")) as [number | null]; // "close": stderr is read to its end
  running.delete(child);
  return { code, stderr };
}
