import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { NodeSchema, RouteSchema, SettingsSchema } from "../../gen/turnout/v1/routing_pb.js";
import { validateDesiredState, validateNode, validateRoute, validateSettings } from "../../src/control/admin/validate.ts";
import type { FieldViolation } from "../../src/errors.ts";

const lines = (vs: FieldViolation[]) => vs.map((v) => `${v.field}: ${v.message}`);

test("a valid node and route have no problems", () => {
  assert.deepEqual(
    validateNode(create(NodeSchema, { id: "gpu-1.eu_a", baseUrl: "http://10.0.0.1:11434", models: ["qwen3:32b"] }), "node"),
    [],
  );
  const route = create(RouteSchema, {
    name: "qwen3:32b/chat",
    defaultVariant: "a",
    variants: [
      { name: "a", model: "qwen3:32b", keepAlive: "1h30m" },
      { name: "b", model: "qwen3:8b", keepAlive: "-1" },
    ],
    arms: [
      { variant: "a", weight: 60 },
      { variant: "b", weight: 40 },
    ],
  });
  assert.deepEqual(validateRoute(route, "route"), []);
});

test("reports every node problem with its path", () => {
  const node = create(NodeSchema, { id: "gpu 1", baseUrl: "http://x?y=1", models: ["a", "a", ""], labels: { "": "v" } });
  assert.deepEqual(lines(validateNode(node, "nodes[3]")), [
    "nodes[3].id: \"gpu 1\" is not a valid node id (letters, digits, '.', '_' and '-')",
    'nodes[3].base_url: "http://x?y=1" must not have a query or fragment',
    'nodes[3].models[1]: duplicate model "a"',
    "nodes[3].models[2]: must be a model tag without whitespace",
    "nodes[3].labels: label keys must not be empty",
  ]);
  assert.deepEqual(lines(validateNode(create(NodeSchema, {}), "node")), [
    "node.id: must not be empty",
    "node.base_url: must not be empty",
  ]);
});

test("reports every route problem with its path", () => {
  const route = create(RouteSchema, {
    name: "has space",
    defaultVariant: "",
    variants: [
      { name: "a", model: "m", nodes: ["n1", "n1", "bad id"], keepAlive: "forever" },
      { name: "a", model: "" },
      { name: "", model: "x y" },
    ],
    arms: [
      { variant: "a", weight: 70 },
      { variant: "zz", weight: 101 },
      { variant: "a", weight: 0 },
    ],
    seed: "s".repeat(201),
  });
  assert.deepEqual(lines(validateRoute(route, "routes[0]")), [
    'routes[0].name: "has space" must not contain whitespace',
    'routes[0].variants[0].nodes[1]: duplicate node "n1"',
    "routes[0].variants[0].nodes[2]: \"bad id\" is not a valid node id (letters, digits, '.', '_' and '-')",
    'routes[0].variants[0].keep_alive: "forever" is not a duration such as "30m" or "-1"',
    'routes[0].variants[1].name: duplicate variant name "a"',
    "routes[0].variants[1].model: must not be empty",
    "routes[0].variants[2].name: must not be empty",
    'routes[0].variants[2].model: "x y" must not contain whitespace',
    "routes[0].default_variant: must name one of the variants when there are several",
    'routes[0].arms[1].variant: "zz" is not a variant of the route',
    "routes[0].arms[1].weight: must be a whole percent between 0 and 100, got 101",
    'routes[0].arms[2].variant: duplicate weight for variant "a"',
    "routes[0].arms: weights must sum to 100, got 171",
    "routes[0].seed: must be at most 200 characters",
  ]);
});

test("a route name may hold ':' and '/', but not be empty or longer than 200 characters", () => {
  const named = (name: string) =>
    lines(validateRoute(create(RouteSchema, { name, variants: [{ name: "v", model: "m" }] }), "route"));
  assert.deepEqual(named("org/qwen3:32b"), []);
  assert.deepEqual(named(""), ["route.name: must not be empty"]);
  assert.deepEqual(named("x".repeat(201)), ["route.name: must be at most 200 characters"]);
  assert.deepEqual(
    lines(
      validateRoute(create(RouteSchema, { name: "r", defaultVariant: "nope", variants: [{ name: "v", model: "m" }] }), "route"),
    ),
    ['route.default_variant: "nope" is not a variant of the route'],
  );
});

test("reports bad settings and duplicate ids and names across the state", () => {
  assert.deepEqual(lines(validateSettings(create(SettingsSchema, { unitHeader: "x user" }), "settings")), [
    'settings.unit_header: "x user" is not a valid header name',
  ]);
  const node = create(NodeSchema, { id: "n", baseUrl: "http://n" });
  const route = create(RouteSchema, { name: "r", variants: [{ name: "v", model: "m" }] });
  assert.deepEqual(lines(validateDesiredState({ nodes: [node, node], routes: [route, route] })), [
    'nodes[1].id: duplicate node id "n" (also nodes[0])',
    'routes[1].name: duplicate route name "r" (also routes[0])',
  ]);
});
