import { test } from "node:test";
import assert from "node:assert/strict";
import { startEmbedded, streamChat, type StreamResult } from "./harness.ts";

const config = (urls: string[]) => `
nodes:
${urls.map((url, i) => `  - { id: node-${i + 1}, url: "${url}", models: ["qwen3:32b", "qwen3:8b"] }`).join("\n")}
routes:
  - name: qwen3-32b
    default: big
    variants:
      - { name: big, model: "qwen3:32b" }
      - { name: small, model: "qwen3:8b" }
`;

test("SwitchModel under 60 concurrent streams: none fails or truncates, old streams finish on the old variant, new ones get the new", async () => {
  const gw = await startEmbedded({
    sims: [0, 1].map(() => ({
      models: ["qwen3:32b", "qwen3:8b"],
      ttftMs: 5,
      tokensPerSecond: 100,
      outputTokens: 30,
      parallel: 64,
    })),
    config,
  });
  try {
    const before = await gw.admin.getCurrentModel({ route: "qwen3-32b" });
    assert.equal(before.variant, "big");
    const oldVersion = Number(before.snapshotVersion);

    // 60 streams in flight, each with its own user; all have their headers before the switch.
    let started = 0;
    let allStarted!: () => void;
    const startedAll = new Promise<void>((resolve) => (allStarted = resolve));
    const body = { model: "qwen3-32b", messages: [{ role: "user", content: "hello" }] };
    const early = Array.from({ length: 60 }, (_, i) =>
      streamChat(gw.proxyUrl, body, { "x-turnout-user": `user-${i}` }, () => {
        if (++started === 60) allStarted();
      }),
    );
    await startedAll;

    const switched = await gw.admin.switchModel({ route: "qwen3-32b", variant: "small" });
    assert.equal(switched.previousVariant, "big");
    const newVersion = Number(switched.snapshotVersion);
    assert.ok(newVersion > oldVersion);
    await gw.proxy.waitForVersion(newVersion);

    const late = Array.from({ length: 60 }, (_, i) => streamChat(gw.proxyUrl, body, { "x-turnout-user": `user-${i}` }));
    const results: StreamResult[] = await Promise.all([...early, ...late]);

    const failed = results.filter((r) => r.status !== 200 || !r.complete);
    assert.equal(failed.length, 0, `${failed.length} streams failed or were truncated`);
    for (const r of results.slice(0, 60)) {
      assert.equal(r.snapshot, oldVersion, "a stream that started before the switch is pinned to the old snapshot");
      assert.equal(r.variant, "big");
    }
    for (const r of results.slice(60)) {
      assert.equal(r.snapshot, newVersion);
      assert.equal(r.variant, "small");
    }
    // The model name clients see is the route's on both sides of the switch.
    assert.ok(results.every((r) => r.lines.every((l) => l.model === "qwen3-32b")));
    // The old streams really ran on the old model, the new ones on the new.
    const [a, b] = gw.sims.map((s) => s.stats().byModel);
    assert.equal((a["qwen3:32b"] ?? 0) + (b["qwen3:32b"] ?? 0), 60);
    // (plus the switch's pre-warm: one empty generate per node of the new variant)
    assert.equal((a["qwen3:8b"] ?? 0) + (b["qwen3:8b"] ?? 0), 60 + 2);

    const after = await gw.admin.getCurrentModel({ route: "qwen3-32b" });
    assert.equal(after.variant, "small");
    assert.equal(Number(after.sinceVersion), newVersion);
  } finally {
    await gw.close();
  }
});
