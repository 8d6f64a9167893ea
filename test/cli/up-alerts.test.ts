import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSimulator } from "../../src/sim/simulator.ts";
import { startTurnout } from "../support/turnout-process.ts";

/** The webhook origins /metrics lists alerts for (the queue gauge has one sample per webhook). */
async function webhooks(admin: string): Promise<string[]> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return [...text.matchAll(/^turnout_alerts_queued\{webhook="([^"]+)"\} \d+$/gm)].map((m) => m[1]).sort();
}

test("turnout up takes alerts from the config file and the flags at every start: they are not stored with the state", async () => {
  const sim = await startSimulator({ models: ["qwen3:32b"], ttftMs: 1 });
  const dir = await mkdtemp(join(tmpdir(), "turnout-up-alerts-"));
  const config = join(dir, "turnout.yaml");
  await writeFile(
    config,
    `
nodes: [ { id: gpu-1, url: "${sim.url}" } ]
routes: [ { name: qwen3-32b, default: big, variants: [ { name: big, model: "qwen3:32b" } ] } ]
alerts:
  webhooks: [ { url: "http://127.0.0.1:9/from-file", format: json } ]
`,
  );
  const base = ["up", "--port", "0", "--admin-port", "0", "--data-dir", join(dir, "data"), "--config", config];
  try {
    let gw = await startTurnout([...base, "--alert-slack", "https://hooks.slack.example/services/T/B/SECRET"], "admin");
    assert.deepEqual(await webhooks(gw.url), ["http://127.0.0.1:9", "https://hooks.slack.example"]);
    await gw.stop();

    // Restarted on the same data directory (state kept) with other alert settings: they apply.
    await writeFile(
      config,
      `
nodes: [ { id: gpu-1, url: "${sim.url}" } ]
routes: [ { name: qwen3-32b, default: big, variants: [ { name: big, model: "qwen3:32b" } ] } ]
alerts:
  webhooks: [ { url: "http://127.0.0.2:9/changed" } ]
`,
    );
    gw = await startTurnout([...base, "--alert-webhook", "http://127.0.0.3:9/flag"], "admin");
    assert.deepEqual(await webhooks(gw.url), ["http://127.0.0.2:9", "http://127.0.0.3:9"]);
    await gw.stop();

    await writeFile(config, `alerts: { webhooks: [ { url: "ftp://nope" } ] }\n`);
    await assert.rejects(startTurnout(base, "admin"), /alerts\.webhooks\[0\]\.url: must be an http\(s\) URL/);
  } finally {
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
});
