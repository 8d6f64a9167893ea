import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ExperimentSnapshotSchema,
  FeedbackExperimentSnapshotSchema,
  RoutingSnapshotSchema,
  type ExperimentSnapshot,
  type RoutingSnapshot,
} from "../../gen/turnout/v1/routing_pb.js";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";
import { buildSnapshot, startProxyFixture } from "../proxy/proxy-harness.ts";

const half = (a: string, b: string) => [
  { name: a, variant: a, ranges: [{ start: 0, end: 5000 }] },
  { name: b, variant: b, ranges: [{ start: 5000, end: 10000 }] },
];
const experiment = (init: MessageInitShape<typeof ExperimentSnapshotSchema> & { id: string }) =>
  create(ExperimentSnapshotSchema, {
    route: "chat",
    seed: `${init.id}:0`,
    arms: half("a", "b"),
    layer: "L",
    layerSeed: "layer:L",
    layerRanges: [{ start: 0, end: 10000 }],
    ...init,
  });

function withExperiments(experiments: ExperimentSnapshot[], version = 1): RoutingSnapshot {
  const s = buildSnapshot({
    version,
    nodes: [{ id: "n1", url: "http://127.0.0.1:1/" }],
    routes: [
      {
        name: "chat",
        variants: [
          { name: "a", model: "m:1" },
          { name: "b", model: "m:2" },
        ],
      },
      {
        name: "other",
        variants: [
          { name: "x", model: "m:1" },
          { name: "y", model: "m:2" },
        ],
      },
    ],
  });
  s.experiments = experiments;
  s.contentHash = snapshotContentHash(s);
  return s;
}

test("a snapshot with well-formed experiments is consistent", () => {
  const s = withExperiments([
    experiment({ id: "e1", layerRanges: [{ start: 0, end: 3000 }], targeting: { attr: "region", eq: "eu" } }),
    experiment({ id: "e2", route: "other", arms: half("x", "y"), layerRanges: [{ start: 3000, end: 6000 }] }),
  ]);
  assert.deepEqual(checkSnapshot(s), []);
});

test("overlapping layer buckets, dangling references, uncovered arm buckets and bad rules are named by path", () => {
  const problems = checkSnapshot(
    withExperiments([
      experiment({ id: "e1", layerRanges: [{ start: 0, end: 6000 }] }),
      experiment({ id: "e2", route: "other", arms: half("x", "z"), layerRanges: [{ start: 5000, end: 8000 }] }),
      experiment({
        id: "e3",
        route: "gone",
        layer: "M",
        layerSeed: "layer:M",
        arms: [{ name: "a", variant: "a", ranges: [{ start: 0, end: 9000 }] }],
        targeting: { attr: "v", gte: "2" },
      }),
      experiment({ id: "e1", layer: "N", layerSeed: "layer:N" }),
    ]),
  );
  const want = [
    'experiments[1].layer_ranges[0]: bucket 5000 is also owned by experiments[0] ("e1")',
    'experiments[1].arms[1].variant: variant "z" does not exist in route "other"',
    'experiments[2].route: route "gone" does not exist',
    "experiments[2].arms: bucket 9000 is owned by no arm",
    "experiments[2].targeting.gte: must be a number",
    'experiments[3].id: duplicate experiment id "e1"',
    'experiments[3].layer: experiments on route "chat" must share one layer',
  ];
  const lines = problems.map((p) => `${p.field}: ${p.message}`);
  for (const w of want)
    assert.ok(
      lines.some((p) => p.startsWith(w)),
      `${w}\nin:\n${lines.join("\n")}`,
    );
});

test("declared feedback metrics and the experiments kept for feedback are checked: names, ranges, ids, phases and arms", () => {
  const s = withExperiments([
    experiment({
      id: "e1",
      feedbackMetrics: [
        { name: "thumbs_up", min: 0, max: 1 },
        { name: "thumbs_up", min: 0, max: 1 },
        { name: "score", min: 5, max: 1 },
      ],
    }),
  ]);
  s.feedbackExperiments = [
    create(FeedbackExperimentSnapshotSchema, { id: "e1", phases: 1, arms: 2 }),
    create(FeedbackExperimentSnapshotSchema, {
      id: "old",
      phases: 0,
      arms: 0,
      feedbackMetrics: [{ name: "x", min: Number.NaN, max: 2e12 }],
    }),
    create(FeedbackExperimentSnapshotSchema, {
      id: "fine",
      phases: 3,
      arms: 2,
      feedbackMetrics: [{ name: "conversion", min: 0, max: 1 }],
    }),
  ];
  s.contentHash = snapshotContentHash(s);
  assert.deepEqual(
    checkSnapshot(s).map((v) => `${v.field}: ${v.message}`),
    [
      'experiments[0].feedback_metrics[1].name: duplicate metric "thumbs_up"',
      "experiments[0].feedback_metrics[2].max: must not be below min (1 < 5)",
      'feedback_experiments[0].id: duplicate experiment id "e1"',
      "feedback_experiments[1].phases: must be at least 1",
      "feedback_experiments[1].arms: must be at least 1",
      "feedback_experiments[1].feedback_metrics[0].min: must be a number from -1e12 to 1e12, got NaN",
      "feedback_experiments[1].feedback_metrics[0].max: must be a number from -1e12 to 1e12, got 2000000000000",
    ],
  );
});

test("the proxy refuses (NACKs) a snapshot whose experiments overlap in a layer and keeps serving the last good one", async () => {
  const f = await startProxyFixture({ sims: [] });
  try {
    const good = await f.publishRaw(
      toBinary(RoutingSnapshotSchema, withExperiments([experiment({ id: "e1", layerRanges: [{ start: 0, end: 5000 }] })], 1)),
    );
    assert.equal(good.state, "ACK");
    const bad = await f.publishRaw(
      toBinary(
        RoutingSnapshotSchema,
        withExperiments(
          [
            experiment({ id: "e1", layerRanges: [{ start: 0, end: 5000 }] }),
            experiment({ id: "e2", route: "other", arms: half("x", "y"), layerRanges: [{ start: 4000, end: 6000 }] }),
          ],
          2,
        ),
      ),
    );
    assert.equal(bad.state, "NACK");
    assert.match(bad.error ?? "", /experiments\[1\]\.layer_ranges\[0\]: bucket 4000 is also owned/);
    assert.equal(f.proxy.version(), 1);
    assert.equal(bad.appliedVersion, 1);
  } finally {
    await f.close();
  }
});
