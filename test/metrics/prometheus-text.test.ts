import assert from "node:assert/strict";
import { test } from "node:test";
import { FixedHistogram, PrometheusWriter, isMetricsPath } from "../../src/stats/prometheus-text.ts";
import { promtoolCheck } from "./promtool.ts";

test("writes HELP/TYPE once per family, escapes label values and help, and passes promtool", async () => {
  const h = new FixedHistogram([0.1, 1]);
  for (const v of [0.05, 0.5, 0.5, 7]) h.observe(v);
  const text = new PrometheusWriter()
    .counter("demo_requests_total", "Requests with a \\ backslash\nand a newline.", [
      [{ route: 'we"ird\\name\nx', variant: "a" }, 3],
      [{ route: "plain", variant: "" }, 0],
    ])
    .gauge("demo_version", "A gauge.", [[undefined, 42]])
    .histogram("demo_duration_seconds", "A histogram.", [[{ route: "r" }, h]])
    .text();
  assert.equal(
    text,
    [
      "# HELP demo_requests_total Requests with a \\\\ backslash\\nand a newline.",
      "# TYPE demo_requests_total counter",
      'demo_requests_total{route="we\\"ird\\\\name\\nx",variant="a"} 3',
      'demo_requests_total{route="plain",variant=""} 0',
      "# HELP demo_version A gauge.",
      "# TYPE demo_version gauge",
      "demo_version 42",
      "# HELP demo_duration_seconds A histogram.",
      "# TYPE demo_duration_seconds histogram",
      'demo_duration_seconds_bucket{route="r",le="0.1"} 1',
      'demo_duration_seconds_bucket{route="r",le="1"} 3',
      'demo_duration_seconds_bucket{route="r",le="+Inf"} 4',
      'demo_duration_seconds_sum{route="r"} 8.05',
      'demo_duration_seconds_count{route="r"} 4',
      "",
    ].join("\n"),
  );
  await promtoolCheck(text);
});

test("refuses a counter without _total and a family written twice", () => {
  assert.throws(() => new PrometheusWriter().counter("demo_requests", "x", []), /_total/);
  assert.throws(() => new PrometheusWriter().gauge("g", "x", []).gauge("g", "x", []), /twice/);
});

test("promtool rejects what is not valid exposition text (the check is real)", async () => {
  await assert.rejects(promtoolCheck('# TYPE x counter\nx{a="1" 3\n'), /promtool check metrics failed/);
});

test("answers /metrics with or without a query, nothing else", () => {
  assert.equal(isMetricsPath("/metrics"), true);
  assert.equal(isMetricsPath("/metrics?x=1"), true);
  assert.equal(isMetricsPath("/metricsx"), false);
  assert.equal(isMetricsPath("/api/metrics"), false);
});
