/**
 * A real nats-server with JetStream for tests: `startNatsServer()` runs Debian's
 * `nats-server -js -a 127.0.0.1 -p PORT -sd DIR` on a free port with its own store directory and
 * resolves once the server logs "Server is ready". `kill()` and `restart()` keep the port and the
 * store, so a test can take NATS away and bring it back the way an outage would. `config` adds a
 * configuration file (`-c`): `accounts`/`authorization` with users and permissions, `tls`, …; the
 * flags above still set the address, port, JetStream and store.
 *
 * Every server still running when the test process exits is killed (SIGKILL), and the store
 * directories this module created are removed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** Port to listen on. Default: a free port found first. */
  port?: number;
  /** JetStream store directory. Default: a new temp directory, removed by `stop()`. */
  storeDir?: string;
  /** The nats-server binary. Default: `NATS_SERVER` from the environment, else /usr/sbin/nats-server. */
  binary?: string;
  /** How long to wait for "Server is ready", in ms. Default 15000. */
  readyTimeoutMs?: number;
  /** nats-server configuration text, written to `nats-server.conf` in the store dir. Default none. */
  config?: string;
}

/** A running nats-server. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Process id of the running server (throws when it is not running), e.g. to SIGSTOP it. */
  pid(): number;
  /** Graceful shutdown (SIGTERM, waits for exit); removes the store dir when this module made it. */
  stop(): Promise<void>;
  /** SIGKILL, like a crash; resolves when the process has exited. The store dir is kept. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and store dir (killing it first if it runs); resolves when ready. */
  restart(): Promise<void>;
  /** Everything the server logged so far (e.g. its "Permissions Violation" lines). */
  log(): string;
  /** Writes a new configuration and reloads it (SIGHUP); resolves once the server says it reloaded. */
  reload(config: string): Promise<void>;
}

const running = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
    for (const dir of ownedDirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const onSignal = () => {
      for (const child of running) child.kill("SIGKILL");
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * Spawns the server and resolves when it logs "Server is ready"; rejects with its log if it exits
 * first. Everything it logs is passed to `onLog`.
 */
function spawnServer(
  binary: string,
  port: number,
  storeDir: string,
  timeoutMs: number,
  configFile: string | undefined,
  onLog: (text: string) => void,
): Promise<ChildProcess> {
  const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir];
  if (configFile !== undefined) args.push("-c", configFile);
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const logAll = (chunk: Buffer) => onLog(chunk.toString("utf8"));
  child.stdout!.on("data", logAll);
  child.stderr!.on("data", logAll);
  return new Promise((resolve, reject) => {
    let log = "";
    let ready = false;
    const timer = setTimeout(
      () => fail(new Error(`nats-server on port ${port} was not ready within ${timeoutMs} ms:\n${log}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      if (ready) return;
      log += chunk.toString("utf8");
      if (log.includes("Server is ready")) {
        ready = true;
        clearTimeout(timer);
        child.off("exit", onExit);
        resolve(child);
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      fail(new Error(`nats-server on port ${port} exited (${signal ?? code}) before it was ready:\n${log}`));
    const fail = (err: Error) => {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(err);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", onExit);
    child.once("error", (err) => fail(new Error(`cannot run ${binary}: ${err.message}`)));
  });
}

/** Starts nats-server with JetStream; see {@link NatsServerOptions}. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  installExitHook();
  const binary = options.binary ?? process.env.NATS_SERVER ?? "/usr/sbin/nats-server";
  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  const port = options.port ?? (await freePort());
  const ownsDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "turnout-nats-"));
  if (ownsDir) ownedDirs.add(storeDir);
  fs.mkdirSync(storeDir, { recursive: true });
  let configFile: string | undefined;
  if (options.config !== undefined) {
    configFile = path.join(storeDir, "nats-server.conf");
    fs.writeFileSync(configFile, options.config, { mode: 0o600 });
  }
  let serverLog = "";
  const onLog = (text: string) => {
    serverLog += text;
  };

  let child: ChildProcess | undefined;
  try {
    child = await spawnServer(binary, port, storeDir, timeoutMs, configFile, onLog);
  } catch (err) {
    if (ownsDir) {
      fs.rmSync(storeDir, { recursive: true, force: true });
      ownedDirs.delete(storeDir);
    }
    throw err;
  }

  async function kill(): Promise<void> {
    const c = child;
    child = undefined;
    if (c === undefined) return;
    c.kill("SIGKILL");
    await waitForExit(c);
  }

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    kill,
    pid() {
      if (child?.pid === undefined) throw new Error("nats-server is not running");
      return child.pid;
    },
    async stop() {
      const c = child;
      child = undefined;
      if (c !== undefined) {
        c.kill("SIGTERM");
        await waitForExit(c);
      }
      if (ownsDir) {
        fs.rmSync(storeDir, { recursive: true, force: true });
        ownedDirs.delete(storeDir);
      }
    },
    async restart() {
      await kill();
      child = await spawnServer(binary, port, storeDir, timeoutMs, configFile, onLog);
    },
    log: () => serverLog,
    async reload(config) {
      if (configFile === undefined) throw new Error("nats-server was started without a config file");
      if (child === undefined) throw new Error("nats-server is not running");
      const reloads = () => serverLog.split("Reloaded server configuration").length;
      const before = reloads();
      fs.writeFileSync(configFile, config, { mode: 0o600 });
      const c = child;
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (reloads() > before) done(resolve);
          else if (/\[ERR\].*reload/i.test(serverLog.slice(-2000))) done(() => reject(new Error(`reload failed:\n${serverLog}`)));
        };
        const done = (fn: () => void) => {
          c.stdout!.off("data", check);
          c.stderr!.off("data", check);
          fn();
        };
        c.stdout!.on("data", check);
        c.stderr!.on("data", check);
        c.kill("SIGHUP");
      });
    },
  };
}
