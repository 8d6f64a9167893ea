import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { HealthCheckSchema, OutlierDetectionSchema, SettingsSchema } from "../../gen/turnout/v1/routing_pb.js";
import { compileSnapshot } from "../../src/control/publish/compile.ts";
import { loadConfigFile, parseConfig } from "../../src/control/config/load-config.ts";
import { validateSettings } from "../../src/control/admin/validate.ts";
import { problemsOf } from "./problems-of.ts";
import { resilienceSettings } from "../../src/proxy/upstream/resilience-settings.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const NODES = `nodes: [ { id: gpu-1, url: "http://127.0.0.1:11434" } ]
routes: [ { name: m, variants: [ { name: v, model: "qwen3:8b" } ] } ]
`;

test("the seed article's health_check block becomes the proxies' active health check interval and timeout", async () => {
  const config = await loadConfigFile(fixture("seed-fixed.yaml"));
  const hc = config.state.settings?.healthCheck;
  assert.deepEqual([hc?.intervalMs, hc?.timeoutMs, hc?.disabled], [30_000, 5_000, false]);
  const snapshot = compileSnapshot(config.state, undefined);
  assert.deepEqual(checkSnapshot(snapshot), []);
  const r = resilienceSettings(snapshot.settings);
  assert.deepEqual(r.healthCheck, {
    enabled: true,
    intervalMs: 30_000,
    timeoutMs: 5_000,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
  });
});

test("native settings blocks map onto the snapshot and unset keys take the proxy's defaults", () => {
  const config = parseConfig(
    `settings:
  total_timeout: 10m
  health_check: { interval: 2s, healthy_threshold: 1, unhealthy_threshold: 4 }
  outlier_detection: { consecutive_failures: 5, base_ejection: 30s, max_ejection: 10m, fast_503: 10ms }
  queue: { max_wait: 1500ms, max_length: 16 }
${NODES}`,
    "t.yaml",
  );
  const snapshot = compileSnapshot(config.state, undefined);
  assert.deepEqual(checkSnapshot(snapshot), []);
  const r = resilienceSettings(snapshot.settings);
  assert.deepEqual(r, {
    healthCheck: { enabled: true, intervalMs: 2000, timeoutMs: 2000, healthyThreshold: 1, unhealthyThreshold: 4 },
    outlier: { enabled: true, consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 600_000, fast503Ms: 10 },
    queue: { enabled: true, maxWaitMs: 1500, maxLength: 16 },
    totalTimeoutMs: 600_000,
  });
  const defaults = resilienceSettings(compileSnapshot(parseConfig(NODES, "t.yaml").state, undefined).settings);
  assert.deepEqual(defaults, {
    healthCheck: { enabled: true, intervalMs: 10_000, timeoutMs: 5_000, healthyThreshold: 2, unhealthyThreshold: 3 },
    outlier: { enabled: true, consecutiveFailures: 3, baseEjectionMs: 10_000, maxEjectionMs: 300_000, fast503Ms: 5 },
    queue: { enabled: true, maxWaitMs: 5_000, maxLength: 256 },
    totalTimeoutMs: 0,
  });
});

test("enabled: false turns each mechanism off", () => {
  const config = parseConfig(
    `settings:
  health_check: { enabled: false }
  outlier_detection: { enabled: false }
  queue: { enabled: false }
${NODES}`,
    "t.yaml",
  );
  const r = resilienceSettings(compileSnapshot(config.state, undefined).settings);
  assert.deepEqual([r.healthCheck.enabled, r.outlier.enabled, r.queue.enabled], [false, false, false]);
});

test("bad resilience settings are reported with their config paths, in both formats", () => {
  assert.deepEqual(
    problemsOf(() =>
      parseConfig(
        `settings:
  health_check: { interval: 1s, timeout: 2s, healthy_threshold: 0, colour: red }
  outlier_detection: { base_ejection: 1m, max_ejection: 10s, consecutive_failures: -1 }
  queue: { max_wait: soon }
${NODES}`,
        "t.yaml",
      ),
    ),
    [
      "settings.health_check.colour: unknown key (allowed: enabled, interval, timeout, healthy_threshold, unhealthy_threshold)",
      "settings.health_check.healthy_threshold: must be a whole number from 1 to 1000, got number 0",
      "settings.health_check.timeout: must not exceed the interval (2000 > 1000)",
      "settings.outlier_detection.consecutive_failures: must be a whole number from 1 to 1000, got number -1",
      "settings.outlier_detection.max_ejection: must not be less than base_ejection_ms (10000 < 60000)",
      'settings.queue.max_wait: must be a duration such as "250ms", "5s", "5m" or a number of ms, got string "soon"',
    ],
  );
  assert.deepEqual(
    problemsOf(() =>
      parseConfig(
        `models: [ { name: "qwen3:8b", endpoint: "http://127.0.0.1:11434" } ]
health_check: { interval: 10ms }
`,
        "seed.yaml",
      ),
    ),
    ["health_check.interval: must be at least 50 ms, got 10"],
  );
});

test("the admin validation of settings names the proto field", () => {
  const problems = validateSettings(create(SettingsSchema, { healthCheck: { intervalMs: 1000, timeoutMs: 5000 } }), "settings");
  assert.deepEqual(problems, [
    { field: "settings.health_check.timeout_ms", message: "must not exceed the interval (5000 > 1000)" },
  ]);
});

test("a proxy rejects a snapshot whose resilience settings are inconsistent, naming the field", () => {
  const config = parseConfig(NODES, "t.yaml");
  const snapshot = compileSnapshot(config.state, undefined);
  snapshot.settings!.outlierDetection = create(OutlierDetectionSchema, { baseEjectionMs: 5000, maxEjectionMs: 1000 });
  snapshot.settings!.healthCheck = create(HealthCheckSchema, { intervalMs: 10 });
  snapshot.contentHash = snapshotContentHash(snapshot);
  assert.deepEqual(checkSnapshot(snapshot), [
    { field: "settings.health_check.interval_ms", message: "must be at least 50 ms, got 10" },
    { field: "settings.outlier_detection.max_ejection_ms", message: "must not be less than base_ejection_ms (1000 < 5000)" },
  ]);
});
