/**
 * Client keys across a distributed fleet, as an operator runs it: a real nats-server, one
 * `turnout control --nats` with an admin token and three `turnout proxy --nats
 * --require-client-keys`. A client key made through KeyService chats through every proxy; once it
 * is revoked, every proxy refuses it from the snapshot the revocation published on — no later
 * one is needed — and the fleet view shows each of them on that snapshot.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { FleetService } from "../../gen/turnout/v1/fleet_pb.js";
import { KeyService } from "../../gen/turnout/v1/keys_pb.js";
import { Role } from "../../gen/turnout/v1/routing_pb.js";
import { bearer } from "../../src/cli/admin-client.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { startTurnout, type TurnoutProcess } from "../support/turnout-process.ts";
import { clusterConfig, waitForFleet } from "./distributed-support.ts";

const ADMIN_TOKEN = "revocation-test-admin-token-0123456789";
let dir: string;
let nats: NatsServer;
let sim: Simulator;
let control: TurnoutProcess;
const proxies: TurnoutProcess[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "turnout-revoke-"));
  nats = await startNatsServer();
  sim = await startSimulator({ models: ["qwen3:32b", "qwen3:8b"], ttftMs: 1, tokensPerSecond: 2000, outputTokens: 4 });
  const config = join(dir, "turnout.yaml");
  await writeFile(config, clusterConfig(sim.url));
  control = await startTurnout(["control", "--nats", nats.url, "--admin-port", "0", "--id", "c1", "--config", config], "admin", {
    TURNOUT_ADMIN_TOKEN: ADMIN_TOKEN,
  });
  for (const id of ["p1", "p2", "p3"]) {
    const args = ["proxy", "--nats", nats.url, "--port", "0", "--id", id, "--data-dir", join(dir, id), "--require-client-keys"];
    proxies.push(await startTurnout(args, "traffic", { TURNOUT_ADMIN_TOKEN: undefined }));
  }
});

after(async () => {
  await Promise.all([...proxies, control].map((p) => p.kill()));
  await nats.stop();
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

/** One native chat with `key` (none: no authorization header); answers status and snapshot header. */
async function chat(proxyUrl: string, key: string | undefined): Promise<{ status: number; body: string; snapshot: number }> {
  const res = await request(`${proxyUrl}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
    body: JSON.stringify({ model: "qwen3-32b", stream: false, messages: [{ role: "user", content: "hi" }] }),
  });
  return { status: res.statusCode, body: await res.body.text(), snapshot: Number(res.headers["x-turnout-snapshot"] ?? 0) };
}

test("a client key revoked through KeyService is refused by every proxy of a 3-proxy NATS fleet on the snapshot the revocation published", async () => {
  const transport = createConnectTransport({ baseUrl: control.url, httpVersion: "1.1", interceptors: [bearer(ADMIN_TOKEN)] });
  const keys = createClient(KeyService, transport);
  const fleet = { fleet: createClient(FleetService, transport) };
  const onVersion = (version: bigint) =>
    waitForFleet(fleet as Parameters<typeof waitForFleet>[0], (view) => {
      const live = view.proxies.filter((p) => p.status !== undefined);
      return live.length === 3 && live.every((p) => (p.status?.appliedVersion ?? 0n) >= version);
    });

  const created = await keys.createKey({ name: "app", role: Role.CLIENT });
  assert.match(created.token, /^tk_[0-9a-f]{16}_/);
  await onVersion(created.snapshotVersion);
  for (const proxy of proxies) {
    assert.equal((await chat(proxy.url, undefined)).status, 401, "keys are required");
    const ok = await chat(proxy.url, created.token);
    assert.equal(ok.status, 200, ok.body);
  }

  const revoked = await keys.revokeKey({ id: created.key!.id });
  assert.ok(revoked.snapshotVersion > created.snapshotVersion);
  assert.ok(revoked.key?.revokedAt !== undefined);
  await onVersion(revoked.snapshotVersion);
  for (const proxy of proxies) {
    const refused = await chat(proxy.url, created.token);
    assert.equal(refused.status, 401, `${proxy.url} still accepts the revoked key`);
    assert.equal(refused.snapshot, Number(revoked.snapshotVersion), "refused on the revocation's own snapshot");
    assert.match(JSON.parse(refused.body).error, /key/i);
  }
});
