import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { NodeSchema, RouteSchema, VariantSchema } from "../../gen/turnout/v1/routing_pb.js";
import { isServing, nodesStillUsing, variantNodes } from "../../src/control/switch/variant-nodes.ts";

const nodes = [
  create(NodeSchema, { id: "gpu-1", baseUrl: "http://a", models: ["qwen3:32b"] }),
  create(NodeSchema, { id: "gpu-2", baseUrl: "http://b", models: [] }),
  create(NodeSchema, { id: "gpu-3", baseUrl: "http://c", models: ["qwen3:8b"] }),
];

test("variantNodes resolves as the proxy does: the variant's nodes, else nodes listing the model or no models", () => {
  assert.deepEqual(
    variantNodes(nodes, create(VariantSchema, { model: "qwen3:32b" })).map((n) => n.id),
    ["gpu-1", "gpu-2"],
  );
  assert.deepEqual(
    variantNodes(nodes, create(VariantSchema, { model: "qwen3:8b" })).map((n) => n.id),
    ["gpu-2", "gpu-3"],
  );
  assert.deepEqual(variantNodes(nodes, create(VariantSchema, { model: "qwen3:8b", nodes: ["gpu-3", "gpu-1"] })), [
    { id: "gpu-3", baseUrl: "http://c" },
    { id: "gpu-1", baseUrl: "http://a" },
  ]);
});

test("nodesStillUsing: a model stays loaded where another serving variant routes to it, not where only an idle variant names it", () => {
  const switched = create(RouteSchema, {
    name: "chat",
    defaultVariant: "small",
    variants: [
      { name: "big", model: "qwen3:32b" },
      { name: "small", model: "qwen3:8b" },
    ],
  });
  const other = create(RouteSchema, {
    name: "other",
    defaultVariant: "a",
    variants: [
      { name: "a", model: "qwen3:8b" },
      { name: "b", model: "qwen3:32b", nodes: ["gpu-2"] },
    ],
    arms: [
      { variant: "a", weight: 90, ranges: [{ start: 0, end: 9000 }] },
      { variant: "b", weight: 10, ranges: [{ start: 9000, end: 10000 }] },
    ],
  });
  const idle = create(RouteSchema, {
    name: "idle",
    defaultVariant: "x",
    variants: [
      { name: "x", model: "llama3" },
      { name: "y", model: "qwen3:32b" },
    ],
  });
  assert.deepEqual(
    [...nodesStillUsing([switched, other, idle], nodes, "qwen3:32b", { route: "chat", variant: "big" })],
    ["gpu-2"],
  );
  assert.equal(isServing(other, "b"), true, "an arm with buckets serves");
  assert.equal(isServing(idle, "y"), false, "a variant nobody routes to does not");
  assert.equal(isServing(switched, "small"), true);
  other.arms[1].ranges = [];
  assert.deepEqual(
    [...nodesStillUsing([switched, other], nodes, "qwen3:32b", { route: "chat", variant: "big" })],
    [],
    "an arm without buckets does not hold the model",
  );
});
