import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { BucketRangeSchema, RoutingSnapshotSchema, type RoutingSnapshot } from "../../gen/turnout/v1/routing_pb.js";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";
import type { FieldViolation } from "../../src/errors.ts";

const lines = (vs: FieldViolation[]) => vs.map((v) => `${v.field}: ${v.message}`);

function r(start: number, end: number) {
  return create(BucketRangeSchema, { start, end });
}

/** A consistent snapshot: two nodes, one route split 90/10, one plain route. */
function valid(): RoutingSnapshot {
  const s = create(RoutingSnapshotSchema, {
    version: 3n,
    parentVersion: 2n,
    createdAt: timestampFromDate(new Date("2025-01-01T00:00:00Z")),
    nodes: [
      { id: "gpu-1", baseUrl: "http://127.0.0.1:11434", models: ["qwen3:32b", "qwen3:8b"], labels: { region: "eu" } },
      { id: "gpu-2", baseUrl: "https://gpu-2.internal", maxConcurrent: 4 },
    ],
    routes: [
      {
        name: "qwen3-32b",
        defaultVariant: "stable",
        seed: "qwen3-32b:1",
        variants: [
          { name: "stable", model: "qwen3:32b", nodes: ["gpu-1"], options: { num_ctx: 8192 } },
          { name: "small", model: "qwen3:8b" },
        ],
        arms: [
          { variant: "stable", weight: 90, ranges: [r(0, 9000)] },
          { variant: "small", weight: 10, ranges: [r(9000, 10000)] },
        ],
      },
      { name: "tiny", defaultVariant: "only", variants: [{ name: "only", model: "tiny:1b" }] },
    ],
    settings: { unitHeader: "x-turnout-user", connectTimeoutMs: 5000, firstByteTimeoutMs: 300000, idleTimeoutMs: 60000 },
  });
  s.contentHash = snapshotContentHash(s);
  return s;
}

/** The problems of `valid()` changed by `edit` (content hash recomputed), as `field: message` lines. */
function broken(edit: (s: RoutingSnapshot) => void): string[] {
  const s = valid();
  edit(s);
  s.contentHash = snapshotContentHash(s);
  return lines(checkSnapshot(s));
}

test("a consistent snapshot has no problems", () => {
  assert.deepEqual(checkSnapshot(valid()), []);
});

test("the content hash ignores version, parent, time and map insertion order", () => {
  const a = valid();
  const b = valid();
  b.version = 9n;
  b.parentVersion = 8n;
  b.createdAt = undefined;
  b.nodes[0].labels = { zone: "a", region: "eu" };
  a.nodes[0].labels = { region: "eu", zone: "a" };
  b.routes[0].variants[0].options = { num_predict: 5, num_ctx: 8192 };
  a.routes[0].variants[0].options = { num_ctx: 8192, num_predict: 5 };
  assert.equal(snapshotContentHash(a), snapshotContentHash(b));
  assert.match(snapshotContentHash(a), /^[0-9a-f]{64}$/);
  b.routes[0].variants[0].model = "qwen3:14b";
  assert.notEqual(snapshotContentHash(a), snapshotContentHash(b));
});

test("reports a content hash that does not match the content", () => {
  const s = valid();
  s.routes[1].seed = "changed";
  assert.deepEqual(
    checkSnapshot(s).map((p) => p.field),
    ["content_hash"],
  );
});

test("reports version 0 and a parent that is not older", () => {
  assert.deepEqual(
    broken((s) => (s.version = 0n)),
    ["version: must be at least 1"],
  );
  assert.match(broken((s) => (s.parentVersion = 3n)).join(), /^parent_version: must be less than version/);
});

test("reports duplicate and empty node ids and bad base URLs with their paths", () => {
  const problems = broken((s) => {
    s.nodes[1].id = "gpu-1";
    s.nodes.push({ ...s.nodes[1], id: "", baseUrl: "ftp://x" });
    s.nodes.push({ ...s.nodes[1], id: "gpu-4", baseUrl: "http://x/?q=1" });
    s.nodes.push({ ...s.nodes[1], id: "gpu-5", baseUrl: "not a url" });
  });
  assert.deepEqual(problems, [
    'nodes[1].id: duplicate node id "gpu-1" (also nodes[0])',
    "nodes[2].id: must not be empty",
    'nodes[2].base_url: "ftp://x" must use http or https',
    'nodes[3].base_url: "http://x/?q=1" must not have a query or fragment',
    'nodes[4].base_url: "not a url" is not a valid URL',
  ]);
});

test("reports duplicate route and variant names and a route without variants", () => {
  const problems = broken((s) => {
    s.routes[1].name = "qwen3-32b";
    s.routes[0].variants[1].name = "stable";
    s.routes.push({ ...s.routes[1], name: "empty", variants: [], defaultVariant: "" });
  });
  assert.deepEqual(problems, [
    'routes[0].variants[1].name: duplicate variant name "stable"',
    'routes[0].arms[1].variant: variant "small" does not exist in the route',
    'routes[1].name: duplicate route name "qwen3-32b" (also routes[0])',
    "routes[2].variants: must have at least one variant",
    "routes[2].default_variant: must name a variant",
  ]);
});

test("reports references that do not resolve", () => {
  const problems = broken((s) => {
    s.routes[0].defaultVariant = "gone";
    s.routes[0].variants[0].nodes = ["gpu-1", "gpu-9"];
    s.routes[0].arms[1].variant = "nope";
    s.routes[1].variants[0].model = "";
  });
  assert.deepEqual(problems, [
    'routes[0].variants[0].nodes[1]: node "gpu-9" does not exist',
    'routes[0].default_variant: variant "gone" does not exist in the route',
    'routes[0].arms[1].variant: variant "nope" does not exist in the route',
    "routes[1].variants[0].model: must not be empty",
  ]);
});

test("reports a variant whose nodes do not serve its model", () => {
  const problems = broken((s) => {
    s.nodes[1].models = ["other"];
    s.routes[0].variants[0].model = "llama3:8b";
  });
  assert.deepEqual(problems, [
    'routes[0].variants[0].nodes[0]: node "gpu-1" does not serve model "llama3:8b"',
    'routes[1].variants[0].nodes: no node serves model "tiny:1b"',
  ]);
});

test("reports weights out of range or not summing to 100", () => {
  assert.deepEqual(
    broken((s) => (s.routes[0].arms[1].weight = 20)),
    ["routes[0].arms[1].ranges: own 1000 buckets but weight 20% needs 2000", "routes[0].arms: weights must sum to 100, got 110"],
  );
  assert.deepEqual(
    broken((s) => (s.routes[0].arms[1].weight = 101)),
    ["routes[0].arms[1].weight: must be between 0 and 100, got 101", "routes[0].arms: weights must sum to 100, got 191"],
  );
});

test("reports overlapping, unsorted, out-of-range and uncovering bucket ranges", () => {
  assert.deepEqual(
    broken((s) => {
      s.routes[0].arms[0].ranges = [r(0, 8000), r(9000, 10000)];
      s.routes[0].arms[1].ranges = [r(8000, 9000)];
    }),
    [],
    "ranges may interleave between arms",
  );
  assert.deepEqual(
    broken((s) => {
      s.routes[0].arms[0].ranges = [r(1000, 9000), r(0, 1000)];
    }),
    ["routes[0].arms[0].ranges[1]: ranges must be sorted and disjoint ([0, 1000) starts before 9000)"],
  );
  assert.deepEqual(
    broken((s) => {
      s.routes[0].arms[0].ranges = [r(0, 8999)];
      s.routes[0].arms[1].ranges = [r(9000, 10001)];
    }),
    [
      "routes[0].arms[0].ranges: own 8999 buckets but weight 90% needs 9000",
      "routes[0].arms[1].ranges[0]: [9000, 10001) must satisfy start < end <= 10000",
      "routes[0].arms[1].ranges: own 0 buckets but weight 10% needs 1000",
      "routes[0].arms: bucket 8999 is owned by no arm (arms must cover 0..9999)",
    ],
  );
  assert.deepEqual(
    broken((s) => {
      s.routes[0].arms[1].ranges = [r(8000, 9000)];
    }),
    [
      "routes[0].arms[1].ranges[0]: bucket 8000 is also owned by routes[0].arms[0]",
      "routes[0].arms: bucket 9000 is owned by no arm (arms must cover 0..9999)",
    ],
  );
});

test("reports an invalid unit header", () => {
  assert.deepEqual(
    broken((s) => (s.settings!.unitHeader = "x user")),
    ['settings.unit_header: "x user" is not a valid header name'],
  );
});
