import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadConfigFile, parseConfig } from "../../src/control/config/load-config.ts";
import { Problems, readDuration } from "../../src/control/config/config-reader.ts";
import { toPercent } from "../../src/control/config/seed-config.ts";
import { compileSnapshot } from "../../src/control/publish/compile.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { TurnoutError } from "../../src/errors.ts";
import { problemsOf } from "./problems-of.ts";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

test("the native config loads into a consistent state with arms, defaults and listen addresses", async () => {
  const config = await loadConfigFile(fixture("native.yaml"));
  assert.deepEqual(config.listen, { traffic: "127.0.0.1:8080", admin: "127.0.0.1:8081" });
  const { nodes, routes, settings } = config.state;
  assert.deepEqual(
    nodes.map((n) => [n.id, n.baseUrl, n.maxConcurrent, n.models, n.labels]),
    [
      ["gpu-1", "http://127.0.0.1:11434", 4, ["qwen3:32b", "qwen3:8b"], { region: "eu" }],
      ["gpu-2", "http://127.0.0.1:11435", 0, ["qwen3:8b"], {}],
    ],
  );
  assert.equal(routes[0].name, "qwen3-32b");
  assert.equal(routes[0].defaultVariant, "stable");
  assert.equal(routes[0].seed, "qwen3-32b-phase-1");
  assert.deepEqual(routes[0].variants[0].options, { num_ctx: 8192 });
  assert.equal(routes[0].variants[0].keepAlive, "30m");
  assert.deepEqual(
    routes[0].arms.map((a) => [a.variant, a.weight, a.ranges.map((r) => [r.start, r.end])]),
    [
      ["stable", 90, [[0, 9000]]],
      ["small", 10, [[9000, 10000]]],
    ],
  );
  assert.equal(routes[1].defaultVariant, "only", "one variant is the default");
  assert.equal(routes[1].seed, "qwen3:8b:1");
  assert.deepEqual(
    [settings?.unitHeader, settings?.connectTimeoutMs, settings?.firstByteTimeoutMs, settings?.idleTimeoutMs],
    ["x-user-id", 250, 300000, 60000],
  );
  assert.deepEqual(checkSnapshot(compileSnapshot(config.state, undefined)), []);
});

test("the seed article's own example gives a clear error about alternative-model, not a crash", async () => {
  await assert.rejects(loadConfigFile(fixture("seed-example.yaml")), (err: unknown) => {
    assert.ok(err instanceof TurnoutError);
    assert.equal(err.code, "invalid_argument");
    assert.deepEqual(
      err.violations.map((v) => `${v.field}: ${v.message}`),
      ['routing.ab_testing.models[1].name: "alternative-model" is not defined in models[]'],
    );
    assert.match(
      err.message,
      /seed-example\.yaml: 1 problem: routing\.ab_testing\.models\[1\]\.name: "alternative-model" is not defined in models\[\]/,
    );
    return true;
  });
});

test("the fixed seed example maps models to nodes and variants of one route with a 50/50 A/B split", async () => {
  const config = await loadConfigFile(fixture("seed-fixed.yaml"));
  assert.deepEqual(config.listen, { traffic: "8080" });
  const { nodes, routes, settings } = config.state;
  assert.deepEqual(
    nodes.map((n) => [n.id, n.baseUrl, n.models, n.maxConcurrent]),
    [
      ["qwen3-32b", "http://gpu-node-1:11434", ["qwen3:32b"], 500],
      ["qwen3-14b", "http://gpu-node-2:11434", ["qwen3:14b"], 500],
    ],
  );
  assert.equal(routes.length, 1);
  assert.equal(routes[0].name, "qwen3:32b", "clients keep sending the first model's name");
  assert.equal(routes[0].defaultVariant, "qwen3-32b");
  assert.deepEqual(
    routes[0].variants.map((v) => [v.name, v.model, v.nodes]),
    [
      ["qwen3-32b", "qwen3:32b", ["qwen3-32b"]],
      ["qwen3-14b", "qwen3:14b", ["qwen3-14b"]],
    ],
  );
  assert.deepEqual(
    routes[0].arms.map((a) => [a.variant, a.weight]),
    [
      ["qwen3-32b", 50],
      ["qwen3-14b", 50],
    ],
  );
  assert.equal(settings?.firstByteTimeoutMs, 30000);
  assert.deepEqual(checkSnapshot(compileSnapshot(config.state, undefined)), []);
});

test("the seed shape without A/B testing splits by models[].weight normalised to percent, skipping disabled models", async () => {
  const config = await loadConfigFile(fixture("seed-weighted.yaml"));
  assert.deepEqual(config.listen, { traffic: "9090" });
  assert.deepEqual(
    config.state.nodes.map((n) => [n.id, n.baseUrl, n.maxConcurrent]),
    [
      ["qwen3-32b", "http://gpu-node-1:11434", 5],
      ["qwen3-14b", "http://gpu-node-2:11434", 5],
    ],
  );
  assert.deepEqual(
    config.state.routes[0].arms.map((a) => [a.variant, a.weight]),
    [
      ["qwen3-32b", 67],
      ["qwen3-14b", 33],
    ],
  );
  assert.equal(config.state.settings?.firstByteTimeoutMs, 120000);
});

test("the seed shape: gateway.route names the route; strategy single sends everything to the first model", () => {
  const config = parseConfig(
    `gateway: { route: chat }
models:
  - { name: "a:1", endpoint: "http://a:1", weight: 1 }
  - { name: "b:1", endpoint: "http://b:1", weight: 3 }
routing: { strategy: single }
`,
    "inline",
  );
  assert.equal(config.state.routes[0].name, "chat");
  assert.equal(config.state.routes[0].defaultVariant, "a-1");
  assert.deepEqual(config.state.routes[0].arms, []);
  assert.equal(config.listen, undefined);
});

test("the seed shape reports every problem with its path", () => {
  assert.deepEqual(
    problemsOf(() =>
      parseConfig(
        `gateway: { port: 99999, timeout: soon, colour: red }
models:
  - { name: "a", endpoint: "ftp://a" }
  - { name: "a", endpoint: "http://b", enabled: "yes" }
  - { name: "c", endpoint: "http://c", enabled: false }
routing:
  strategy: weighted
  ab_testing:
    enabled: true
    models: [ { name: c, weight: 50 }, { name: a } ]
`,
        "seed.yaml",
      ),
    ),
    [
      "gateway.colour: unknown key (allowed: port, host, timeout, max_connections, route)",
      "gateway.port: must be a whole number from 0 to 65535, got number 99999",
      'gateway.timeout: must be a duration such as "250ms", "5s", "5m" or a number of ms, got string "soon"',
      'models[0].endpoint: "ftp://a" must use http or https',
      'models[1].enabled: must be true or false, got string "yes"',
      'models[1].name: duplicate model "a"',
      'routing.ab_testing.models[0].name: "c" is disabled in models[2]',
      "routing.ab_testing.models[1].weight: is required",
    ],
  );
});

test("an invalid native config reports every problem with its config path, unknown keys included", async () => {
  await assert.rejects(loadConfigFile(fixture("native-invalid.yaml")), (err: unknown) => {
    assert.ok(err instanceof TurnoutError);
    assert.deepEqual(
      err.violations.map((v) => `${v.field}: ${v.message}`),
      [
        "nodes[0].id: \"gpu 1\" is not a valid node id (letters, digits, '.', '_' and '-')",
        'nodes[0].url: "ftp://127.0.0.1:11434" must use http or https',
        "nodes[1].max_concurrent: must be a whole number from 0 to 4294967295, got number -1",
        "routes[0].split: weights must sum to 100, got 90",
        'routes[0].variants[0].nodes[0]: node "gpu-9" does not exist',
        "routes[0].variants[1].model: must not be empty",
        'routes[1].name: "has space" must not contain whitespace',
        "routes[1].variants: must have at least one variant",
        "settings.colour: unknown key (allowed: unit_header, connect_timeout, first_byte_timeout, idle_timeout, total_timeout, health_check, outlier_detection, queue, client_keep_alive, feedback_ref_ttl)",
        'settings.connect_timeout: must be a duration such as "250ms", "5s", "5m" or a number of ms, got string "soon"',
      ],
    );
    assert.match(err.message, /^.*native-invalid\.yaml: 10 problems: nodes\[0\]\.id/);
    return true;
  });
});

test("native config: references, defaults and split variants are checked with config names", () => {
  assert.deepEqual(
    problemsOf(() =>
      parseConfig(
        `nodes: [ { id: n, url: "http://n", models: [a] } ]
routes:
  - name: r
    default: missing
    variants: [ { name: x, model: a }, { name: y, model: b } ]
    split: { x: 50, z: 50 }
  - { name: s, variants: [ { name: v, model: a, nodes: [n] } ], extra: 1 }
unknown: true
`,
        "inline",
      ),
    ),
    [
      'routes[0].default: "missing" is not a variant of the route',
      'routes[0].split.z: "z" is not a variant of the route',
      'routes[0].variants[1].nodes: no node serves model "b"',
      "routes[1].extra: unknown key (allowed: name, default, variants, split, seed)",
      "unknown: unknown key (allowed: listen, settings, nodes, routes, alerts, auth)",
    ],
  );
});

test("YAML syntax errors and missing files are invalid_argument with a location", async () => {
  const problems = problemsOf(() => parseConfig("nodes: [ { id: a\n", "broken.yaml"));
  assert.equal(problems.length >= 1, true);
  assert.match(problems[0], /^line 2, column 1: /);
  assert.deepEqual(
    problemsOf(() => parseConfig("a: 1\na: 2\n", "dup.yaml")),
    ["line 2, column 1: Map keys must be unique"],
  );
  await assert.rejects(loadConfigFile(fixture("does-not-exist.yaml")), /no such file/);
  assert.deepEqual(parseConfig("", "empty").state, { nodes: [], routes: [], settings: undefined });
});

test("durations accept ms, s, m, h, d, combinations and plain numbers of ms", () => {
  const durationMs = (value: unknown) => readDuration(value, "timeout", new Problems());
  assert.deepEqual(
    ["250ms", "5s", "5m", "1h30m", "1.5s", 42, "42", "5d"].map(durationMs),
    [250, 5000, 300000, 5400000, 1500, 42, 42, 432_000_000],
  );
  assert.deepEqual(["soon", "5 s", -1].map(durationMs), [undefined, undefined, undefined]);
});

test("settings.feedback_ref_ttl is a duration into Settings.feedback_ref_ttl_ms; unset it stays 0 (7 days at the proxy); a bad one names its key", () => {
  const ttl = (text: string) =>
    parseConfig(`settings:\n  feedback_ref_ttl: ${text}\n`, "t.yaml").state.settings?.feedbackRefTtlMs;
  assert.deepEqual(["7d", "36h", "90m", "60000"].map(ttl), [604_800_000, 129_600_000, 5_400_000, 60_000]);
  assert.equal(parseConfig("settings:\n  unit_header: x-u\n", "t.yaml").state.settings?.feedbackRefTtlMs, 0);
  assert.deepEqual(
    problemsOf(() => parseConfig("settings:\n  feedback_ref_ttl: a week\n", "t.yaml")),
    ['settings.feedback_ref_ttl: must be a duration such as "250ms", "5s", "5m" or a number of ms, got string "a week"'],
  );
});

test("weights are normalised to percent summing to 100 by largest remainder", () => {
  assert.deepEqual(toPercent([70, 30]), [70, 30]);
  assert.deepEqual(toPercent([2, 1]), [67, 33]);
  assert.deepEqual(toPercent([1, 1, 1]), [34, 33, 33]);
  assert.deepEqual(toPercent([5, 0]), [100, 0]);
});
