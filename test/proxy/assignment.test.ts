import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { allocateBuckets, bucketTable } from "../../src/assign/allocate.ts";
import { bucketOf } from "../../src/assign/hash.ts";
import { startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";

const split = [
  { variant: "stable", weight: 50 },
  { variant: "small", weight: 50 },
];

/** The variant GrowthBook v2 bucketing gives `unit` under `seed` with a fresh 50/50 split. */
function expectedVariant(seed: string, unit: string): string {
  const arms = allocateBuckets([], split);
  return arms[bucketTable(arms)[bucketOf(seed, unit)]].variant;
}

async function variantFor(url: string, path: string, body: object, headers: Record<string, string> = {}): Promise<string | null> {
  const res = await fetch(url + path, { method: "POST", headers, body: JSON.stringify({ stream: false, ...body }) });
  await res.text();
  assert.equal(res.status, 200);
  return res.headers.get("x-turnout-variant");
}

describe("assignment of requests to variants", () => {
  let f: ProxyFixture;
  const chat = { model: "qwen3-32b", messages: [{ role: "user", content: "hi" }], options: { num_predict: 1 } };

  before(async () => {
    f = await startProxyFixture({
      sims: [{ models: ["qwen3:32b", "qwen3:8b"] }],
      snapshot: (urls) => ({
        version: 1,
        nodes: [{ id: "n1", url: urls[0] }],
        routes: [
          {
            name: "qwen3-32b",
            seed: "phase-1",
            variants: [
              { name: "stable", model: "qwen3:32b" },
              { name: "small", model: "qwen3:8b" },
            ],
            split,
          },
        ],
      }),
    });
  });
  after(() => f.close());

  it("assigns by the unit header exactly as bucketOf and the arms' ranges say, every time", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const unit = `user-${i}`;
      const expected = expectedVariant("phase-1", unit);
      seen.add(expected);
      for (let repeat = 0; repeat < 2; repeat++) {
        assert.equal(await variantFor(f.proxy.url, "/api/chat", chat, { "x-turnout-user": unit }), expected, unit);
      }
    }
    assert.equal(seen.size, 2, "both arms were exercised");
  });

  it("sends the variant's upstream model to the node", async () => {
    const unit = Array.from({ length: 50 }, (_, i) => `u${i}`).find((u) => expectedVariant("phase-1", u) === "small")!;
    const before = f.sims[0].stats().byModel["qwen3:8b"] ?? 0;
    const res = await fetch(`${f.proxy.url}/api/chat`, {
      method: "POST",
      headers: { "x-turnout-user": unit },
      body: JSON.stringify({ ...chat, stream: false }),
    });
    const body = (await res.json()) as { model: string };
    assert.equal(body.model, "qwen3-32b");
    assert.equal(f.sims[0].stats().byModel["qwen3:8b"], before + 1);
    assert.equal(f.outcomes.at(-1)?.arm, "small");
  });

  it("takes the unit from the OpenAI user field", async () => {
    for (let i = 0; i < 8; i++) {
      const unit = `openai-${i}`;
      assert.equal(
        await variantFor(f.proxy.url, "/v1/chat/completions", { ...chat, user: unit, max_tokens: 1 }),
        expectedVariant("phase-1", unit),
      );
    }
  });

  it("sends requests without a unit to the default variant, outside the experiment", async () => {
    for (let i = 0; i < 6; i++) assert.equal(await variantFor(f.proxy.url, "/api/chat", chat), "stable");
    const last = f.outcomes.at(-1);
    assert.equal(last?.arm, "");
    assert.equal(last?.unitHash, "");
  });

  it("reads the unit from the header the snapshot's settings name", async () => {
    await f.publish({
      version: 2,
      nodes: [{ id: "n1", url: f.sims[0].url }],
      routes: [
        {
          name: "qwen3-32b",
          seed: "phase-1",
          variants: [
            { name: "stable", model: "qwen3:32b" },
            { name: "small", model: "qwen3:8b" },
          ],
          split,
        },
      ],
      settings: { unitHeader: "X-Team-User" },
    });
    const unit = Array.from({ length: 50 }, (_, i) => `t${i}`).find((u) => expectedVariant("phase-1", u) === "small")!;
    assert.equal(await variantFor(f.proxy.url, "/api/chat", chat, { "x-team-user": unit }), "small");
    assert.equal(await variantFor(f.proxy.url, "/api/chat", chat, { "x-turnout-user": unit }), "stable");
  });
});
