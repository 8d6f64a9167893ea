import { test } from "node:test";
import assert from "node:assert/strict";
import { runRolloutCommand } from "../../src/cli/rollout-command.ts";
import { startLoad, startRolloutGateway } from "./rollout-harness.ts";
import { until } from "../support/until.ts";

test("turnout rollout start follows the rollout with live progress lines to completion; audit prints the decisions", async (t) => {
  const gw = await startRolloutGateway();
  const load = startLoad(gw.proxyUrl, 2);
  t.after(async () => {
    await load.stop();
    await gw.close();
  });
  await until("traffic", async () => (load.counts.get("stable 200") ?? 0) > 20);
  const lines: string[] = [];
  const code = await runRolloutCommand(
    [
      "start",
      "chat",
      "--to",
      "canary",
      "--steps",
      "30,100",
      "--interval",
      "800ms",
      "--max-error-rate",
      "0.05",
      "--min-samples",
      "5",
      "--admin",
      gw.adminUrl,
    ],
    (l) => lines.push(l),
  );
  const text = lines.join("\n");
  assert.equal(code, 0, text);
  assert.match(lines[0], /^r-\S+ {2}chat: stable → canary {2}running warming {2}canary 0% {2}\[30 100\]$/);
  assert.match(text, /step {8}step 1 {2}canary 30% {2}snapshot \d+ {2}step 1\/2: weights stable 70 \/ canary 30/);
  assert.match(text, /step 1: stable 70 \/ canary 30 {2}fleet 1\/1 {2}evaluating in \d\.\d s/);
  assert.match(text, /completed {3}step 2 {2}canary 100%/);
  assert.match(
    text,
    /gates at step 1 \(30%\) over \d+ s: pass {2}canary \d+ requests, error rate 0, p99 ttft [\d.]+ ms {2}stable \d+ requests/,
  );
  assert.match(text, / {6}pass error_rate {10}error rate 0 within 0.05 over \d+ requests/);
  const id = lines[0].split(" ")[0];

  const audit: string[] = [];
  assert.equal(await runRolloutCommand(["audit", id, "--admin", gw.adminUrl], (l) => audit.push(l)), 0);
  assert.deepEqual(
    audit.filter((l) => !l.startsWith(" ")).map((l) => l.split(/\s+/)[2]),
    ["started", "step", "completed"],
  );

  const listed: string[] = [];
  await runRolloutCommand(["list", "--admin", gw.adminUrl], (l) => listed.push(l));
  assert.match(listed[0], new RegExp(`^${id}  chat: stable → canary  completed step 2/2  canary 100%`));
  await assert.rejects(
    runRolloutCommand(["pause", id, "--admin", gw.adminUrl], () => {}),
    /FailedPrecondition: rollout r-\S+ has already ended/,
  );
  await assert.rejects(
    runRolloutCommand(["start", "chat", "--to", "canary", "--interval", "soon", "--admin", gw.adminUrl], () => {}),
    /--interval: "soon" is not a duration/,
  );
});
