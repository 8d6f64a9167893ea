import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SwitchPhase, SwitchService, type SwitchResponse } from "../../gen/turnout/v1/switch_pb.js";
import { runSwitchCommand } from "../../src/cli/switch-command.ts";
import { startEmbedded, streamChat, type Embedded } from "../integration/harness.ts";
import { until } from "../support/until.ts";

/** Two nodes; variant small (qwen3:8b) on both or, with `missing`, on a second node without the model. */
const config =
  (unload: boolean, missing = false) =>
  (urls: string[]) =>
    `
nodes:
  - { id: gpu-1, url: "${urls[0]}" }
  - { id: gpu-2, url: "${urls[1]}" }
routes:
  - name: qwen3-32b
    default: big
    variants:
      - { name: big, model: "qwen3:32b", unload_when_idle: ${unload} }
      - { name: small, model: "qwen3:8b"${missing ? ", nodes: [gpu-1, gpu-2]" : ""} }
`;

async function gateway(
  t: { after(fn: () => Promise<void>): void },
  options: { unload?: boolean; missing?: boolean; loadMs?: number } = {},
): Promise<Embedded> {
  const small = options.missing ? ["qwen3:32b"] : ["qwen3:32b", "qwen3:8b"];
  const gw = await startEmbedded({
    sims: [["qwen3:32b", "qwen3:8b"], small].map((models) => ({
      models,
      loadMs: 0,
      ttftMs: 5,
      tokensPerSecond: 200,
      outputTokens: 20,
      parallel: 16,
    })),
    config: config(options.unload ?? false, options.missing),
    heartbeatMs: 100,
  });
  t.after(() => gw.close());
  // The old variant is warm (a first chat loads it), then loads take `loadMs`.
  for (const sim of gw.sims)
    assert.equal((await streamChat(sim.url, { model: "qwen3:32b", messages: [{ role: "user", content: "hi" }] })).status, 200);
  for (const sim of gw.sims) sim.setFaults({ loadMs: options.loadMs ?? 300 });
  return gw;
}

const client = (gw: Embedded) =>
  createClient(SwitchService, createConnectTransport({ baseUrl: gw.adminUrl, httpVersion: "1.1" }));
const phaseName = (p: SwitchPhase) => SwitchPhase[p].toLowerCase();

/** Collects a Switch stream: its messages and its error (undefined when it ended well). */
async function collect(stream: AsyncIterable<SwitchResponse>): Promise<{ events: SwitchResponse[]; error?: ConnectError }> {
  const events: SwitchResponse[] = [];
  try {
    for await (const e of stream) events.push(e);
    return { events };
  } catch (err) {
    return { events, error: ConnectError.from(err) };
  }
}

test("Switch streams warming, resident, fleet, shifted, drained and unloaded; a stream in flight finishes on the old variant; the old model is unloaded", async (t) => {
  const gw = await gateway(t, { unload: true });
  // A long stream on the old variant, started before the switch: the drain waits for it.
  const longStream = streamChat(gw.proxyUrl, {
    model: "qwen3-32b",
    options: { num_predict: 200 },
    messages: [{ role: "user", content: "long" }],
  });
  const { events, error } = await collect(client(gw).switch({ route: "qwen3-32b", variant: "small" }));
  assert.equal(error, undefined, error?.message);
  const phases = events.map((e) => phaseName(e.phase));
  const order = ["warming", "resident", "fleet", "shifted", "drained", "unloaded"];
  assert.deepEqual(
    [...new Set(phases)].filter((p) => p !== "draining"),
    order,
    phases.join(" "),
  );
  assert.equal(phases.filter((p) => p === "warming").length, 2);
  assert.ok(phases.includes("draining"), "the long stream kept the old variant busy for a while");
  const resident = events.filter((e) => e.phase === SwitchPhase.RESIDENT).at(-1)!;
  assert.deepEqual([resident.nodesDone, resident.nodesTotal], [2, 2]);
  const shifted = events.find((e) => e.phase === SwitchPhase.SHIFTED)!;
  assert.deepEqual([shifted.fleetSynced, shifted.fleetLive, shifted.previousVariant], [1, 1, "big"]);
  assert.match(shifted.message, /^traffic shifted from big to small \(qwen3:8b\) at snapshot \d+ \(fleet 1\/1\)$/);
  const unloaded = events.filter((e) => e.phase === SwitchPhase.UNLOADED);
  assert.deepEqual(unloaded.map((e) => e.message.replace(/ \(\d\/2\)$/, "")).sort(), [
    "qwen3:32b unloaded from gpu-1",
    "qwen3:32b unloaded from gpu-2",
  ]);

  const long = await longStream;
  assert.ok(long.complete && long.variant === "big", "the stream that started before the switch finished on big");
  assert.ok(gw.sims.every((s) => s.isLoaded("qwen3:8b") && !s.isLoaded("qwen3:32b")));
  const current = await gw.admin.getCurrentModel({ route: "qwen3-32b" });
  assert.deepEqual([current.variant, current.snapshotVersion], ["small", shifted.snapshotVersion]);
  const after = await streamChat(gw.proxyUrl, { model: "qwen3-32b", messages: [{ role: "user", content: "hi" }] });
  assert.equal(after.variant, "small");
});

test("a node that cannot load the model fails the switch before any traffic moves, over both RPCs; state unchanged", async (t) => {
  const gw = await gateway(t, { missing: true });
  const before = await gw.admin.getCurrentModel({ route: "qwen3-32b" });
  const { events, error } = await collect(client(gw).switch({ route: "qwen3-32b", variant: "small" }));
  assert.equal(error?.code, Code.FailedPrecondition);
  assert.match(error!.rawMessage, /^node "gpu-2" cannot load model "qwen3:8b": HTTP 404: model 'qwen3:8b' not found/);
  const last = events.at(-1)!;
  assert.equal(last.phase, SwitchPhase.FAILED);
  assert.match(last.message, /node "gpu-2" cannot load .*\(nothing moved: route qwen3-32b is unchanged\)$/);
  assert.ok(!events.some((e) => e.phase === SwitchPhase.SHIFTED || e.phase === SwitchPhase.FLEET));

  await assert.rejects(gw.admin.switchModel({ route: "qwen3-32b", variant: "small" }), (err: unknown) => {
    const e = ConnectError.from(err);
    return e.code === Code.FailedPrecondition && /node "gpu-2"/.test(e.rawMessage);
  });
  const after = await gw.admin.getCurrentModel({ route: "qwen3-32b" });
  assert.deepEqual(
    [after.variant, after.snapshotVersion],
    [before.variant, before.snapshotVersion],
    "no new snapshot, same variant",
  );
  assert.equal(
    (await streamChat(gw.proxyUrl, { model: "qwen3-32b", messages: [{ role: "user", content: "hi" }] })).variant,
    "big",
  );
});

test("a caller that goes away mid-warm does not stop the switch; a second switch meanwhile is aborted; the unary SwitchModel answers once shifted", async (t) => {
  const gw = await gateway(t, { loadMs: 1500 });
  const abort = new AbortController();
  const seen: string[] = [];
  await collect(
    (async function* () {
      for await (const e of client(gw).switch({ route: "qwen3-32b", variant: "small" }, { signal: abort.signal })) {
        seen.push(phaseName(e.phase));
        yield e;
        if (e.phase === SwitchPhase.WARMING) abort.abort();
      }
    })(),
  );
  assert.deepEqual(seen, ["warming"]);
  // Another switch of the route while this one warms is refused; nothing changes.
  await assert.rejects(gw.admin.switchModel({ route: "qwen3-32b", variant: "big" }), (err: unknown) => {
    const e = ConnectError.from(err);
    return e.code === Code.Aborted && /a switch of route "qwen3-32b" to "small" is in progress/.test(e.rawMessage);
  });
  // The switch goes on: the load completes and traffic moves (polled: there is no event to wait on over the API).
  await until(
    "the switch to complete after its caller left",
    async () => (await gw.admin.getCurrentModel({ route: "qwen3-32b" })).variant === "small",
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  assert.ok(
    gw.sims.every((s) => s.isLoaded("qwen3:8b")),
    "loaded on both nodes before the shift",
  );

  // Unary: answers with the shift; the model is resident by then.
  for (const sim of gw.sims) sim.setFaults({ loadMs: 300 });
  const back = await gw.admin.switchModel({ route: "qwen3-32b", variant: "big", waitForFleetMs: 5000 });
  assert.equal(back.previousVariant, "small");
  assert.equal(back.convergence?.synced, 1);
  assert.ok(gw.sims.every((s) => s.isLoaded("qwen3:32b")));
});

test("turnout switch prints one line per step and exits 0; a failing switch exits 1 with the reason", async (t) => {
  const gw = await gateway(t);
  const capture = () => {
    let text = "";
    return {
      stream: new Writable({
        write(chunk, _enc, cb) {
          text += String(chunk);
          cb();
        },
      }),
      text: () => text,
    };
  };
  const out = capture();
  const err = capture();
  const code = await runSwitchCommand(["qwen3-32b", "small", "--admin", gw.adminUrl, "--no-unload"], out.stream, err.stream);
  assert.equal(code, 0, err.text());
  const lines = out.text().trimEnd().split("\n");
  assert.match(lines[0], /^\[\s+\d+\.\ds\] warming {2}warming qwen3:8b on gpu-\d \(node \d\/2\)$/);
  assert.ok(
    lines.some((l) => /\] resident +qwen3:8b resident on gpu-\d \(2\/2, \d+ ms\)$/.test(l)),
    lines.join("\n"),
  );
  assert.ok(lines.some((l) => /\] shifted +traffic shifted from big to small/.test(l)));
  assert.match(lines.at(-1)!, /\] drained +big drained: no request in flight$/);
  assert.ok(
    gw.sims.every((s) => s.isLoaded("qwen3:32b")),
    "--no-unload (and unload_when_idle false) keep the old model",
  );

  const out2 = capture();
  const err2 = capture();
  assert.equal(await runSwitchCommand(["qwen3-32b", "nope", "--admin", gw.adminUrl], out2.stream, err2.stream), 1);
  assert.match(out2.text(), /failed +switch failed: variant: "nope" is not a variant of route "qwen3-32b"/);
  assert.equal(
    await runSwitchCommand(["qwen3-32b", "big", "--admin", gw.adminUrl, "--keep-alive", "soon"], out2.stream, err2.stream),
    1,
  );
  assert.match(out2.text(), /failed +switch failed: keep_alive: "soon" is not a duration such as "30m" or "-1" \(nothing moved/);
  assert.equal(await runSwitchCommand(["qwen3-32b"], out2.stream, err2.stream), 2);
  assert.equal(await runSwitchCommand(["qwen3-32b", "big", "--unload", "--no-unload"], out2.stream, err2.stream), 2);
});

test("CancelSwitch (turnout switch --cancel) during the pre-warm: the load is abandoned and nothing moves; with no switch in progress it is NotFound", async (t) => {
  const gw = await gateway(t, { loadMs: 3000 });
  const before = await gw.admin.getCurrentModel({ route: "qwen3-32b" });
  const sink = () =>
    new Writable({
      write(_c, _e, cb) {
        cb();
      },
    });
  let out = "";
  const capture = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  const events: SwitchResponse[] = [];
  let error: ConnectError | undefined;
  try {
    for await (const e of client(gw).switch({ route: "qwen3-32b", variant: "small" })) {
      events.push(e);
      if (e.phase === SwitchPhase.WARMING && e.node === "gpu-2") {
        assert.equal(await runSwitchCommand(["--cancel", "qwen3-32b", "--admin", gw.adminUrl], capture, sink()), 0);
      }
    }
  } catch (err) {
    error = ConnectError.from(err);
  }
  assert.equal(out, "cancelled the switch of qwen3-32b to small\n");
  assert.equal(error?.code, Code.Aborted);
  assert.match(
    events.at(-1)!.message,
    /^switch failed: pre-warm of "qwen3:8b" aborted: cancelled by SwitchService.CancelSwitch \(nothing moved: route qwen3-32b is unchanged\)$/,
  );
  const after = await gw.admin.getCurrentModel({ route: "qwen3-32b" });
  assert.deepEqual([after.variant, after.snapshotVersion], [before.variant, before.snapshotVersion]);
  assert.ok(
    gw.sims.every((s) => !s.isLoaded("qwen3:8b")),
    "the loads were abandoned",
  );
  const err = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  assert.equal(await runSwitchCommand(["--cancel", "qwen3-32b", "--admin", gw.adminUrl], sink(), err), 1);
  assert.match(out, /no switch of route "qwen3-32b" is in progress on this control plane \(NotFound\)/);
});
