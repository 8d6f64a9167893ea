import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { ExperimentServiceCreateRequestSchema } from "../gen/turnout/v1/experiment_pb.js";
import { RouteSchema } from "../gen/turnout/v1/routing_pb.js";
import { parseConfig } from "../src/control/config/load-config.ts";
import { experimentDurationMs, experimentFromRequest } from "../src/control/experiments/experiment-input.ts";
import { validateRoute } from "../src/control/admin/validate.ts";
import { TurnoutError } from "../src/errors.ts";

const routes = [
  create(RouteSchema, {
    name: "chat",
    variants: [
      { name: "a", model: "m" },
      { name: "b", model: "m" },
    ],
    defaultVariant: "a",
  }),
];

/** The ms a config file's `settings.connect_timeout: <text>` reads as, or its problem. */
function configMs(text: string): number | string {
  try {
    return parseConfig(`settings:\n  connect_timeout: ${JSON.stringify(text)}\n`, "test.yaml").state.settings!.connectTimeoutMs;
  } catch (err) {
    assert.ok(err instanceof TurnoutError, String(err));
    return err.violations.map((v) => `${v.field}: ${v.message}`).join("; ");
  }
}

/** The ms an experiment created with `duration: <text>` runs for, or its problem. */
function experimentMs(text: string): number | string {
  const req = create(ExperimentServiceCreateRequestSchema, {
    name: "x",
    route: "chat",
    arms: [
      { name: "a", weight: 1 },
      { name: "b", weight: 1 },
    ],
    duration: text,
  });
  try {
    return experimentDurationMs(experimentFromRequest(req, routes, "x", new Date(0)).duration);
  } catch (err) {
    assert.ok(err instanceof TurnoutError, String(err));
    return err.violations.map((v) => `${v.field}: ${v.message}`).join("; ");
  }
}

/** The problems of a route variant with `keep_alive: <text>`. */
const keepAliveProblems = (text: string) =>
  validateRoute(create(RouteSchema, { name: "chat", variants: [{ name: "a", model: "m", keepAlive: text }] }), "route").map(
    (v) => v.message,
  );

const withUnits: [string, number][] = [
  ["250ms", 250],
  ["1.5s", 1_500],
  ["90m", 5_400_000],
  ["1h30m", 5_400_000],
  ["7d", 604_800_000],
  ["1d12h", 129_600_000],
  [".5h", 1_800_000],
  ["2h45m30s", 9_930_000],
  ["1000000us", 1_000],
  ["5000000000ns", 5_000],
  ["+2m", 120_000],
  [" 24h ", 86_400_000],
];

test("a config file and an experiment accept the same durations, with the same value", () => {
  for (const [text, ms] of withUnits) {
    assert.equal(configMs(text), ms, `config ${text}`);
    assert.equal(experimentMs(text), ms, `experiment ${text}`);
    assert.deepEqual(keepAliveProblems(text), [], `keep_alive ${text}`);
  }
});

test("a config file and an experiment refuse the same text, each naming its field", () => {
  for (const text of ["soon", "5 s", "7 d", "5S", "1e3", "1h-30m", "d"]) {
    assert.equal(
      configMs(text),
      `settings.connect_timeout: must be a duration such as "250ms", "5s", "5m" or a number of ms, got string ${JSON.stringify(text)}`,
    );
    assert.equal(experimentMs(text), `duration: ${JSON.stringify(text)} is not a duration such as "24h", "90m", "1h30m" or "7d"`);
    assert.deepEqual(keepAliveProblems(text), [`${JSON.stringify(text)} is not a duration such as "30m" or "-1"`]);
  }
  assert.equal(configMs("-5m"), 'settings.connect_timeout: must not be negative, got string "-5m"');
  assert.equal(experimentMs("-5m"), 'duration: must not be negative, got "-5m"');
});

test("bare numbers differ by field: ms in a config file, seconds in keep_alive, a unit needed for an experiment", () => {
  assert.equal(configMs("1500"), 1_500);
  assert.deepEqual(keepAliveProblems("1500"), []);
  assert.equal(experimentMs("1500"), 'duration: "1500" is not a duration such as "24h", "90m", "1h30m" or "7d"');
});
