/**
 * Runs every command of README.md's Walkthrough against the demo `npm start` runs (`turnout up`
 * on a fresh data directory, simulated nodes), on free ports, and checks that each prints what
 * the README shows under it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firstMissingLine, sectionBlocks, type ReadmeBlock } from "./readme-steps.ts";

const root = new URL("../../", import.meta.url).pathname;
const bin = join(root, "bin/turnout.js");
/** Longest a block may run (the demo's cold loads take 1.5 s each). */
const BLOCK_TIMEOUT_MS = 60_000;

interface Demo {
  child: ChildProcess;
  traffic: number;
  admin: number;
  sims: number[];
}

/** A port nothing listens on (for the demo's local-Ollama probe, which must find none). */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/** `node bin/turnout.js up` as `npm start` runs it, but on free ports and `dataDir`. */
async function startDemo(dataDir: string): Promise<Demo> {
  const ollama = `http://127.0.0.1:${await closedPort()}`;
  const child = spawn(
    process.execPath,
    [bin, "up", "--port", "0", "--admin-port", "0", "--sim-port", "0", "--data-dir", dataDir, "--ollama", ollama],
    {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, LOG_LEVEL: "warn" },
    },
  );
  process.once("exit", () => child.kill("SIGKILL"));
  let err = "";
  const urls = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
      const m = /turnout up: traffic http:\/\/[^:]+:(\d+)\s+admin http:\/\/[^:]+:(\d+)/.exec(err);
      if (m) resolve(m);
    });
    child.once("exit", (code) => reject(new Error(`turnout up exited with ${code}: ${err}`)));
  });
  const record = JSON.parse(await readFile(join(dataDir, "simulated-nodes.json"), "utf8")) as { ports: number[] };
  return { child, traffic: Number(urls[1]), admin: Number(urls[2]), sims: record.ports };
}

/** The README's addresses (traffic 8080, admin 8081, simulated nodes 11435+) moved to the demo's. */
function localise(text: string, demo: Demo): string {
  return text.replace(/\b(?:localhost|127\.0\.0\.1):(8080|8081|1143[5-9])\b/g, (_, port: string) => {
    const actual = port === "8080" ? demo.traffic : port === "8081" ? demo.admin : demo.sims[Number(port) - 11435];
    return `127.0.0.1:${actual ?? port}`;
  });
}

/** Runs `command` with `input` on stdin; answers its exit code and merged output. */
async function run(
  command: string,
  args: string[],
  input: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd: root, env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (output += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (output += s));
  child.stdin!.end(input);
  // the whole process group: npm starts node, which may start more
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }, BLOCK_TIMEOUT_MS);
  const [code] = (await once(child, "close")) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

const MARK = "@@readme-step";

/** Runs an sh block's steps in one bash, in order; fails naming the first command that fails or prints otherwise. */
async function runShBlock(block: ReadmeBlock, demo: Demo, env: NodeJS.ProcessEnv): Promise<void> {
  const steps = block.steps.map((s) => ({
    readme: s.code,
    code: localise(s.code, demo),
    expected: s.expected.map((l) => localise(l, demo)),
  }));
  const script = [
    "set -eo pipefail",
    "exec 2>&1",
    ...steps.flatMap((s, i) => [`printf '\\n${MARK} ${i}\\n'`, s.code]),
    `printf '\\n${MARK} end\\n'`,
  ].join("\n");
  const { code, output } = await run("bash", ["-c", script], "", env);
  const parts = output.split(new RegExp(`\\n${MARK} (\\d+|end)\\n`));
  // parts: [before, "0", output of step 0, "1", output of step 1, …, "end", after]
  const outputs = new Map<string, string>();
  for (let i = 1; i < parts.length; i += 2) outputs.set(parts[i]!, parts[i + 1] ?? "");
  for (const [i, step] of steps.entries()) {
    const printed = outputs.get(String(i));
    const where = `README.md block at line ${block.line}, command:\n${step.readme}\n`;
    if (printed === undefined) assert.fail(`${where}never ran`);
    const failed = !outputs.has(String(i + 1)) && !(i === steps.length - 1 && outputs.has("end"));
    if (failed) assert.fail(`${where}failed (exit ${code}); it printed:\n${printed}`);
    const missing = firstMissingLine(step.expected, printed);
    if (missing !== undefined) assert.fail(`${where}did not print the line\n# ${missing}\nit printed:\n${printed}`);
  }
  assert.equal(code, 0, `README.md block at line ${block.line} exited with ${code}:\n${output}`);
}

test("every command of the README's walkthrough prints what the README shows, against npm start's demo", {
  timeout: 5 * BLOCK_TIMEOUT_MS,
}, async () => {
  const blocks = sectionBlocks(await readFile(join(root, "README.md"), "utf8"), "Walkthrough");
  assert.ok(
    blocks.some((b) => b.lang === "js"),
    "the walkthrough has a JavaScript block",
  );
  assert.ok(blocks.flatMap((b) => b.steps).length >= 10, "the walkthrough's commands were found");

  const dir = await mkdtemp(join(tmpdir(), "turnout-readme-"));
  let demo: Demo | undefined;
  try {
    demo = await startDemo(join(dir, "data"));
    const env = { ...process.env, TURNOUT_ADMIN: `http://127.0.0.1:${demo.admin}`, npm_config_update_notifier: "false" };
    for (const block of blocks) {
      if (block.lang === "sh") {
        await runShBlock(block, demo, env);
      } else {
        const { code, output } = await run(process.execPath, ["--input-type=module"], localise(block.code, demo), env);
        assert.equal(code, 0, `README.md JavaScript block at line ${block.line} exited with ${code}:\n${output}`);
        assert.match(output, /\S/, `README.md JavaScript block at line ${block.line} printed nothing`);
      }
    }
  } finally {
    if (demo !== undefined && demo.child.exitCode === null && demo.child.signalCode === null) {
      const exited = once(demo.child, "exit");
      demo.child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
});
