import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { withAlertFlags } from "../../src/control/config/alerts-config.ts";
import { problemsOf } from "./problems-of.ts";

const nodes = `
nodes:
  - { id: gpu-1, url: "http://127.0.0.1:11434" }
routes:
  - { name: qwen3-32b, default: big, variants: [ { name: big, model: "qwen3:32b" } ] }
`;

test("reads the alerts block with its defaults and durations", () => {
  const config = parseConfig(
    `${nodes}
alerts:
  node_window: 30s
  webhooks:
    - url: https://hooks.slack.com/services/T000/B000/XXXX
      format: slack
      events: [rollback, node_down]
      timeout: 2s
      max_attempts: 3
      queue_size: 10
    - url: http://alerts.internal:9000/turnout
`,
    "test",
  );
  assert.deepEqual(config.alerts, {
    nodeWindowMs: 30_000,
    webhooks: [
      {
        url: "https://hooks.slack.com/services/T000/B000/XXXX",
        format: "slack",
        events: ["rollback", "node_down"],
        timeoutMs: 2000,
        maxAttempts: 3,
        queueSize: 10,
      },
      { url: "http://alerts.internal:9000/turnout", format: "json" },
    ],
  });
  assert.equal(config.state.nodes.length, 1, "the desired state is read as before");
  assert.equal(parseConfig(nodes, "test").alerts, undefined);
});

test("the seed article's shape takes an alerts block too", () => {
  const config = parseConfig(
    `
gateway: { port: 8080 }
models: [ { name: "qwen3:32b", endpoint: "http://gpu-node-1:11434", enabled: true } ]
alerts: { webhooks: [ { url: "http://127.0.0.1:9/x" } ] }
`,
    "seed",
  );
  assert.deepEqual(config.alerts?.webhooks, [{ url: "http://127.0.0.1:9/x", format: "json" }]);
});

test("alerts problems name the field, all at once, and never echo a webhook URL", () => {
  const problems = problemsOf(() =>
    parseConfig(
      `${nodes}
alerts:
  node_window: soon
  webhooks:
    - url: ftp://hooks.example.com/services/SECRET1
    - { url: "https://ok.example.com/x", format: teams, events: [rollback, deploys], timeout: 0ms, max_attempts: 0, retries: 3 }
    - "https://hooks.slack.com/services/SECRET2"
    - { format: json }
    - { url: "https://ok.example.com/y", events: [] }
`,
      "test",
    ),
  );
  assert.deepEqual(problems, [
    'alerts.node_window: must be a duration such as "250ms", "5s", "5m" or a number of ms, got string "soon"',
    "alerts.webhooks[0].url: must be an http(s) URL",
    'alerts.webhooks[1].events[1]: unknown event "deploys" (known: rollback, gate_failed, node_down, node_up, proxy_nack)',
    'alerts.webhooks[1].format: must be one of json, slack, got "teams"',
    "alerts.webhooks[1].max_attempts: must be a whole number from 1 to 100, got number 0",
    "alerts.webhooks[1].retries: unknown key (allowed: url, format, events, timeout, max_attempts, queue_size)",
    "alerts.webhooks[1].timeout: must be from 1ms to 5m",
    "alerts.webhooks[2]: must be a mapping with a url, got a string",
    "alerts.webhooks[3].url: must be an http(s) URL",
    "alerts.webhooks[4].events: must name at least one event (leave it out for the default)",
  ]);
  assert.ok(!problems.join("\n").includes("SECRET"), "no URL in the messages");
  assert.deepEqual(
    problemsOf(() => parseConfig(`${nodes}\nalerts: [1]\n`, "test")),
    ["alerts: must be a mapping, got a list"],
  );
  assert.deepEqual(
    problemsOf(() => parseConfig(`${nodes}\nalerts: { webhook: [] }\n`, "test")),
    ["alerts.webhook: unknown key (allowed: webhooks, node_window)"],
  );
});

test("--alert-webhook and --alert-slack add webhooks to the file's, and a bad URL names the flag", () => {
  const merged = withAlertFlags(
    { webhooks: [{ url: "http://a.example/x", format: "json" }], nodeWindowMs: 5000 },
    ["http://b.example/y"],
    ["https://hooks.slack.com/services/T/B/C"],
  );
  assert.deepEqual(merged, {
    nodeWindowMs: 5000,
    webhooks: [
      { url: "http://a.example/x", format: "json" },
      { url: "http://b.example/y", format: "json" },
      { url: "https://hooks.slack.com/services/T/B/C", format: "slack" },
    ],
  });
  assert.deepEqual(withAlertFlags(undefined), { webhooks: [] });
  assert.deepEqual(
    problemsOf(() => withAlertFlags(undefined, ["hooks.example.com/SECRET"], ["mailto:x@y"])),
    ["--alert-webhook: must be an http(s) URL", "--alert-slack: must be an http(s) URL"],
  );
});
