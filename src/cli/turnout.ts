#!/usr/bin/env node
/**
 * The `turnout` command: `up` (control plane + proxy in one process), `sim` (simulated Ollama
 * nodes), `control` and `proxy` (the distributed halves, on NATS), `switch` (a make-before-break
 * model switch through a control plane), `rollout`, `experiment` (reports of A/B experiments), `key`
 * (API keys and the admin audit log), and `help`.
 */
import { ErrorCode, TurnoutError } from "../errors.ts";
import { UP_USAGE, runUpCommand } from "./up-command.ts";
import { runSimCommand } from "../sim/sim-command.ts";
import { CONTROL_USAGE, runControlCommand } from "./control-command.ts";
import { EXPERIMENT_USAGE, runExperimentCommand } from "./experiment-command.ts";
import { KEY_USAGE, runKeyCommand } from "./key-command.ts";
import { PROXY_USAGE, runProxyCommand } from "./proxy-command.ts";
import { ROLLOUT_USAGE, runRolloutCommand } from "./rollout-command.ts";
import { SWITCH_USAGE, runSwitchCommand } from "./switch-command.ts";

const indent = (text: string) => `${text.replace(/^/gm, "  ").trimEnd()}\n`;

const usage = () => `turnout — a control plane for LLM traffic on Ollama fleets

Usage:
${indent(UP_USAGE)}    Runs the control plane and one proxy in one process, over the data directory (or on NATS
    with --nats). Without a config file and without stored state, it routes every model of the
    Ollama at --ollama when one answers, and otherwise starts two simulated Ollama nodes
    (--sim-port and the next port) behind a route "qwen3-32b", so it works out of the box.
    --alert-webhook / --alert-slack (repeatable) POST alerts as generic JSON / Slack messages.
    --host binds traffic, --admin-host admin (both 127.0.0.1 by default); off loopback it needs
    TURNOUT_ADMIN_TOKEN, and traffic needs --require-client-keys or --allow-anonymous-traffic.
    --tls-cert/--tls-key and --admin-tls-cert/--admin-tls-key serve TLS (HTTP/2 and HTTP/1.1 by
    ALPN, reloaded when the files change); --admin-client-ca requires admin client certificates.
    With --nats it takes the NATS credential and TLS flags of \`turnout control\`.
${indent(CONTROL_USAGE)}${indent(PROXY_USAGE)}${indent(SWITCH_USAGE)}${indent(ROLLOUT_USAGE)}${indent(EXPERIMENT_USAGE)}${indent(KEY_USAGE)}  turnout sim [--port 11434] [--nodes N] [--models a,b] [...]   (turnout sim --help)
    Runs simulated Ollama nodes for tests, demos and benchmarks.
  turnout help
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  let running: { close(): Promise<void> };
  switch (command) {
    case "up":
      running = await runUpCommand(rest);
      break;
    case "sim":
      try {
        running = await runSimCommand(rest);
      } catch (err) {
        if (!(err instanceof TurnoutError && err.code === ErrorCode.InvalidArgument)) throw err;
        process.stderr.write(`${err.message}\n`); // bad usage: one line naming the flag
        process.exitCode = 2;
        return;
      }
      break;
    case "control":
      running = await runControlCommand(rest);
      break;
    case "proxy":
      running = await runProxyCommand(rest);
      break;
    case "rollout":
      process.exitCode = await runRolloutCommand(rest);
      return;
    case "experiment":
      process.exitCode = await runExperimentCommand(rest);
      return;
    case "key":
      process.exitCode = await runKeyCommand(rest);
      return;
    case "switch":
      process.exitCode = await runSwitchCommand(rest);
      return;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(usage());
      return;
    default:
      process.stderr.write(`turnout: unknown command "${command}"\n\n${usage()}`);
      process.exitCode = 2;
      return;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1); // a second signal forces the exit
    stopping = true;
    process.stderr.write(`turnout: ${signal}, shutting down\n`);
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`turnout: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

// A failure to start (a bad flag or config value, a missing certificate, a refusal) is one line
// on stderr and a non-zero exit, never a stack trace.
main(process.argv.slice(2)).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`turnout: ${message.replace(/\s*\n\s*/g, " ")}\n`);
  process.exit(1);
});
