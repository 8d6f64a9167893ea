/**
 * Runs `promtool check metrics` (Debian's `prometheus` package) on exposition text. A missing
 * promtool is an error, not a skip: CI installs it.
 */
import { spawn } from "node:child_process";

/** Resolves with promtool's output when the text passes; rejects with its complaints otherwise. */
export function promtoolCheck(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", (err: NodeJS.ErrnoException) => {
      reject(err.code === "ENOENT" ? new Error("promtool is not on PATH (apt-get install -y prometheus)") : err);
    });
    child.on("close", (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`promtool check metrics failed (${code}):\n${output}\n--- input ---\n${text}`)),
    );
    child.stdin.end(text);
  });
}
