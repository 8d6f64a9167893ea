import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSimulator } from "../../src/sim/simulator.ts";
import { startTurnout } from "../support/turnout-process.ts";

const ADMIN_TOKEN = "bootstrap-admin-0f1e2d3c4b5a69788796a5b4";
const CLIENT_TOKEN = "tk_0123456789abcdef_Q2xpZW50U2VjcmV0Q2xpZW50U2VjcmV0Q2xpZW50U2Vj";
const HOOK_PATH = "/services/T000/B000/HookSecretPathXyz";

test("after a run with an admin token, a client key and a webhook URL, the logs hold none of them and the data dir is private", async () => {
  const sim = await startSimulator({ models: ["qwen3:32b"], ttftMs: 1, tokensPerSecond: 2000, outputTokens: 4 });
  const hooks = createServer((_req, res) => res.end()).listen(0, "127.0.0.1");
  await new Promise((resolve) => hooks.once("listening", resolve));
  const hookUrl = `http://127.0.0.1:${(hooks.address() as { port: number }).port}${HOOK_PATH}`;
  const dir = await mkdtemp(join(tmpdir(), "turnout-secrets-"));
  const config = join(dir, "turnout.yaml");
  const tokenFile = join(dir, "admin-token");
  writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
  writeFileSync(
    config,
    `nodes: [ { id: gpu-1, url: "${sim.url}" } ]
routes: [ { name: qwen3-32b, variants: [ { name: big, model: "qwen3:32b" } ] } ]
auth: { admin_token_file: admin-token }
alerts: { webhooks: [ { url: "${hookUrl}", format: slack } ] }
`,
  );
  const dataDir = join(dir, "data");
  const p = await startTurnout(
    ["up", "--port", "0", "--admin-port", "0", "--data-dir", dataDir, "--config", config, "--alert-webhook", `${hookUrl}/json`],
    "traffic",
    { LOG_LEVEL: "debug", TURNOUT_ADMIN_TOKEN: undefined },
  );
  let stderr: string;
  try {
    const adminUrl = /admin (http:\/\/\S+)/.exec(p.stderr())![1];
    for (const api of ["/api/chat", "/v1/chat/completions"]) {
      const res = await fetch(`${p.url}${api}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${CLIENT_TOKEN}`, "x-api-key": CLIENT_TOKEN },
        body: JSON.stringify({ model: "qwen3-32b", stream: false, messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const bad = await fetch(`${p.url}/api/chat`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_TOKEN}` },
      body: "{",
    });
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();
    const res = await fetch(`${adminUrl}/turnout.v1.AdminService/ListRoutes`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: "{}",
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  } finally {
    await p.stop();
    stderr = p.stderr();
    await sim.close();
    hooks.close();
  }
  try {
    assert.match(stderr, /"msg":"alerts on"/, "the webhooks were logged, by origin");
    assert.match(stderr, /"msg":"snapshot applied"/);
    for (const secret of [ADMIN_TOKEN, CLIENT_TOKEN, "HookSecretPathXyz", "Q2xpZW50U2VjcmV0"])
      assert.ok(!stderr.includes(secret), `the logs hold ${secret}`);

    // Every directory 0700 and every file 0600 (the store, outcome log, offsets, last good snapshot, ref secret).
    const entries = readdirSync(dataDir, { recursive: true }) as string[];
    assert.ok(entries.some((e) => e.endsWith("ref-secret")) && entries.some((e) => e.endsWith(".pb")), entries.join(", "));
    for (const name of [".", ...entries]) {
      const st = statSync(join(dataDir, name));
      assert.equal((st.mode & 0o777).toString(8), st.isDirectory() ? "700" : "600", name);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
