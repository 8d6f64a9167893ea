/**
 * A `turnout <subcommand>` child of a bench run (`turnout control` or `turnout proxy`), started
 * through children.ts (own process group, killed whenever the bench exits). Resolves once the
 * child prints its ready line, and keeps reading its stderr: pino JSON log records whose `msg`
 * is in `keep` are collected (with their epoch-ms `time`), so the bench can time stages from the
 * child's own clock; the last lines of other output are kept for error messages.
 */
import { fileURLToPath } from "node:url";
import { spawnChild, type BenchChild } from "./children.ts";

const cli = fileURLToPath(new URL("../src/cli/turnout.ts", import.meta.url));

/** One kept pino record. */
export interface LogRecord {
  /** Epoch milliseconds (pino's `time`). */
  time: number;
  msg: string;
  /** Every other field, as logged. */
  [field: string]: unknown;
}

/** Options of {@link startTurnoutChild}. */
export interface TurnoutChildOptions {
  /** Name in progress lines and errors, e.g. "p7". */
  name: string;
  /** Arguments after `turnout`, e.g. ["proxy", "--nats", url, ...]. */
  args: string[];
  /** Word before the URL in the ready line: "admin" (control) or "traffic" (proxy). */
  label: "admin" | "traffic";
  /** Log messages to keep (exact `msg`). Default none. */
  keep?: readonly string[];
  /** LOG_LEVEL of the child. Default "info" (the kept messages are info records). */
  logLevel?: string;
  /** How long to wait for the ready line, in ms. Default 30000. */
  readyTimeoutMs?: number;
}

/** A started turnout child. */
export interface TurnoutChild {
  readonly name: string;
  /** URL from the ready line (admin URL of a control plane, traffic URL of a proxy). */
  readonly url: string;
  readonly child: BenchChild;
  /** Kept log records so far, in arrival order. */
  records(): readonly LogRecord[];
  /** The last lines of stderr that were no kept record (for error messages). */
  tail(): string;
  /** SIGTERM, SIGKILL after `graceMs` (default 2000). */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_LINES = 20;

/** Starts `turnout <args>` and resolves when it listens; rejects with its output if it exits or times out first. */
export async function startTurnoutChild(options: TurnoutChildOptions): Promise<TurnoutChild> {
  const keep = new Set(options.keep ?? []);
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const child = spawnChild(options.name, process.execPath, [cli, ...options.args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LOG_LEVEL: options.logLevel ?? "info" },
  });
  const records: LogRecord[] = [];
  const tail: string[] = [];
  const ready = new RegExp(`^turnout \\S+ .*${options.label} (http://\\S+)`);
  let partial = "";
  let onReady: ((url: string) => void) | undefined;

  const onLine = (line: string) => {
    if (line.startsWith("{")) {
      try {
        const record = JSON.parse(line) as LogRecord;
        if (keep.has(record.msg)) {
          records.push(record);
          return;
        }
      } catch {
        // Not JSON after all: kept in the tail.
      }
    }
    const m = ready.exec(line);
    if (m && onReady) onReady(m[1]);
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  child.process.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      void child.stop(0);
      reject(new Error(`${options.name}: no ready line within ${timeoutMs} ms:\n${tail.join("\n")}`));
    }, timeoutMs);
    onReady = (u) => {
      clearTimeout(timer);
      onReady = undefined;
      resolve(u);
    };
    child.process.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${code ?? signal}) before it listened:\n${tail.join("\n")}`));
    });
  });

  return {
    name: options.name,
    url,
    child,
    records: () => records,
    tail: () => tail.join("\n"),
    stop: (graceMs) => child.stop(graceMs),
  };
}
