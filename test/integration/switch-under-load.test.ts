import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Agent, request } from "undici";
import { SyncState } from "../../gen/turnout/v1/fleet_pb.js";
import { SwitchPhase, SwitchService, type SwitchResponse } from "../../gen/turnout/v1/switch_pb.js";
import { startSimulator } from "../../src/sim/simulator.ts";
import { startNatsServer } from "../support/nats-server.ts";
import { startTurnout, type TurnoutProcess } from "../support/turnout-process.ts";
import { controlClients, waitForFleet } from "./distributed-support.ts";

const WORKERS = 100;
const LOAD_MS = 5_000;
const STEADY_MS = 2_500;
const AFTER_MS = 3_500;

/** What one chat saw, times in ms on the test's clock. */
interface Sample {
  start: number;
  /** Time to the first body byte: the first token of a stream, the whole answer otherwise. */
  ttft: number;
  stream: boolean;
  ok: boolean;
  variant: string;
  error?: string;
}

/** One native chat through a proxy, streaming or not. */
async function chat(dispatcher: Agent, url: string, user: string, stream: boolean): Promise<Sample> {
  const start = performance.now();
  try {
    const res = await request(`${url}/api/chat`, {
      method: "POST",
      dispatcher,
      headers: { "content-type": "application/json", "x-turnout-user": user },
      body: JSON.stringify({ model: "qwen3-32b", stream, messages: [{ role: "user", content: `hello from ${user}` }] }),
    });
    let ttft = 0;
    let text = "";
    for await (const chunk of res.body) {
      if (ttft === 0) ttft = performance.now() - start;
      text += String(chunk);
    }
    const lines = text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { done?: boolean; error?: unknown });
    const ok = res.statusCode === 200 && lines.at(-1)?.done === true && lines.every((l) => l.error === undefined);
    return {
      start,
      ttft,
      stream,
      ok,
      variant: String(res.headers["x-turnout-variant"]),
      error: ok ? undefined : `${res.statusCode} ${text.slice(0, 200)}`,
    };
  } catch (err) {
    return { start, ttft: 0, stream, ok: false, variant: "", error: String(err) };
  }
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(sorted.length * 0.99) - 1)] ?? NaN;
}

test("under 100 concurrent mixed chats across 2 proxies, a switch to a cold variant (5 s load) fails no request and keeps p99 time to first token within 1.2× of before", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turnout-switch-load-"));
  const nats = await startNatsServer();
  // Big nodes: 256 parallel slots per model, so latency is about warm vs cold, not capacity.
  const sims = await Promise.all(
    [0, 1].map(() =>
      startSimulator({ models: ["qwen3:32b", "qwen3:8b"], ttftMs: 250, tokensPerSecond: 50, outputTokens: 8, parallel: 256 }),
    ),
  );
  const processes: TurnoutProcess[] = [];
  const dispatcher = new Agent({ connections: WORKERS, keepAliveTimeout: 30_000 });
  try {
    // The serving model is warm; the target is cold and takes LOAD_MS to load.
    for (const sim of sims) {
      const res = await request(`${sim.url}/api/generate`, { method: "POST", body: JSON.stringify({ model: "qwen3:32b" }) });
      await res.body.text();
      sim.setFaults({ loadMs: LOAD_MS });
    }
    const configPath = join(dir, "turnout.yaml");
    await writeFile(
      configPath,
      `
nodes:
  - { id: gpu-1, url: "${sims[0].url}" }
  - { id: gpu-2, url: "${sims[1].url}" }
routes:
  - name: qwen3-32b
    default: big
    variants: [ { name: big, model: "qwen3:32b" }, { name: small, model: "qwen3:8b" } ]
`,
    );
    const control = await startTurnout(
      ["control", "--nats", nats.url, "--admin-port", "0", "--id", "c1", "--config", configPath],
      "admin",
    );
    processes.push(control);
    const proxies = await Promise.all(
      ["p1", "p2"].map((id) =>
        startTurnout(["proxy", "--nats", nats.url, "--port", "0", "--id", id, "--data-dir", join(dir, id)], "traffic"),
      ),
    );
    processes.push(...proxies);
    const clients = controlClients(control.url);
    await waitForFleet(clients, (view) => view.proxies.filter((p) => p.sync === SyncState.SYNCED).length === 2);

    // Steady load: WORKERS loops of chats, alternating streaming and not, over both proxies.
    const samples: Sample[] = [];
    let stop = false;
    const t0 = performance.now();
    const load = Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        for (let i = 0; !stop; i++)
          samples.push(await chat(dispatcher, proxies[(w + i) % 2].url, `user-${w}`, (w + i) % 2 === 0));
      }),
    );
    const waitUntil = async (at: number) => {
      while (performance.now() < at) await new Promise((r) => setTimeout(r, Math.min(100, at - performance.now())));
    };
    await waitUntil(t0 + STEADY_MS);

    // The switch, streamed; the time of each step on the test's clock.
    const switchStart = performance.now();
    const events: { at: number; e: SwitchResponse }[] = [];
    const switcher = createClient(SwitchService, createConnectTransport({ baseUrl: control.url, httpVersion: "1.1" }));
    let shiftedAt = 0;
    let onShifted!: () => void;
    const shifted = new Promise<void>((resolve) => (onShifted = resolve));
    const switching = (async () => {
      for await (const e of switcher.switch({ route: "qwen3-32b", variant: "small" }, { signal: AbortSignal.timeout(30_000) })) {
        events.push({ at: performance.now(), e });
        if (e.phase === SwitchPhase.SHIFTED) {
          shiftedAt = performance.now();
          onShifted();
        }
      }
    })();
    await Promise.race([
      shifted,
      switching.then(() => assert.fail(`the switch ended without shifting: ${events.map(({ e }) => e.message).join("; ")}`)),
    ]);
    await waitUntil(shiftedAt + AFTER_MS);
    stop = true;
    const stoppedAt = performance.now();
    await load;
    await switching;

    const lines = events.map(
      ({ at, e }) => `  +${((at - switchStart) / 1000).toFixed(2)}s ${SwitchPhase[e.phase]}: ${e.message}`,
    );
    const failed = samples.filter((s) => !s.ok);
    assert.equal(
      failed.length,
      0,
      `${failed.length} of ${samples.length} requests failed, e.g. ${failed[0]?.error}\n${lines.join("\n")}`,
    );
    const warmMs = events.find((x) => x.e.phase === SwitchPhase.FLEET)!.at - switchStart;
    assert.ok(warmMs >= LOAD_MS - 100, `the target was cold: the pre-warm took ${Math.round(warmMs)} ms`);
    assert.deepEqual(
      [...new Set(events.map(({ e }) => SwitchPhase[e.phase]))].filter((p) => p !== "DRAINING"),
      ["WARMING", "RESIDENT", "FLEET", "SHIFTED", "DRAINED"],
    );

    // Make-before-break: no request reached the new variant before its model was resident on
    // both nodes, and every request that started after SHIFTED got it.
    const residentAt = events.filter((x) => x.e.phase === SwitchPhase.RESIDENT).at(-1)!.at;
    assert.ok(
      samples.every((s) => s.variant !== "small" || s.start >= residentAt),
      "no request reached the new variant before its model was resident",
    );
    assert.ok(
      samples.every((s) => s.start < shiftedAt || s.variant === "small"),
      "every request after the shift went to the new variant",
    );
    // Steady state: the old variant's requests after 2 s of warm-up (the pre-warm runs meanwhile).
    // After the shift: every request the new variant served (the first reached it while the second
    // proxy was still applying the shift) but those of the last second, when the load winds down.
    const before = samples.filter((s) => s.variant === "big" && s.start >= t0 + 2000);
    const after = samples.filter((s) => s.variant === "small" && s.start < stoppedAt - 1000);
    const report: string[] = [];
    for (const stream of [true, false]) {
      const b = p99(before.filter((s) => s.stream === stream).map((s) => s.ttft));
      const a = p99(after.filter((s) => s.stream === stream).map((s) => s.ttft));
      report.push(
        `${stream ? "streaming" : "non-streaming"}: p99 time to first token before ${b.toFixed(1)} ms (n=${before.filter((s) => s.stream === stream).length}), after the shift ${a.toFixed(1)} ms (n=${after.filter((s) => s.stream === stream).length}), ratio ${(a / b).toFixed(3)}`,
      );
      assert.ok(a <= 1.2 * b, report.at(-1));
    }
    console.log(
      `switch under load: ${samples.length} requests, 0 failed; pre-warm ${Math.round(warmMs)} ms, shifted at +${((shiftedAt - switchStart) / 1000).toFixed(2)} s\n${report.join("\n")}\n${lines.join("\n")}`,
    );
  } finally {
    await dispatcher.close();
    await Promise.all(processes.map((p) => p.kill()));
    await nats.stop();
    await Promise.all(sims.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  }
});
