/**
 * The Prometheus text exposition format (version 0.0.4), written by hand: `# HELP` and `# TYPE`
 * once per family, escaped label values, counters ending in `_total`, and histograms as
 * cumulative `_bucket{le="..."}` series ending at `+Inf`, then `_sum` and `_count`. Plus the
 * fixed-bucket histogram the exporters observe into. No dependency; checked with
 * `promtool check metrics` in the tests.
 */

/** Content type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** True for `/metrics` and `/metrics?...`, where exporters answer. */
export function isMetricsPath(url: string): boolean {
  return url.startsWith("/metrics") && (url.length === 8 || url.charCodeAt(8) === 63) /* ? */;
}

/** Label names to values (names must match `[a-zA-Z_][a-zA-Z0-9_]*`). */
export type Labels = Readonly<Record<string, string>>;

/** Latency buckets in seconds, from 5 ms to 10 minutes (LLM answers are slow). */
const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];

/** A cumulative histogram over fixed upper bounds (Prometheus `histogram`). */
export class FixedHistogram {
  readonly bounds: readonly number[];
  /** Non-cumulative counts per bound, plus one for +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS_SECONDS) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as the format spells it. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(labels: Labels | undefined, extra?: [string, string]): string {
  const parts: string[] = [];
  if (labels !== undefined) for (const name in labels) parts.push(`${name}="${escapeLabel(labels[name])}"`);
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Collects metric families and renders the exposition text. */
export class PrometheusWriter {
  private readonly lines: string[] = [];
  private readonly seen = new Set<string>();

  private header(name: string, type: string, help: string): void {
    if (this.seen.has(name)) throw new Error(`metric family ${name} written twice`);
    this.seen.add(name);
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  /** A counter family; `name` must end in `_total`. */
  counter(name: string, help: string, samples: Iterable<[Labels | undefined, number]>): this {
    if (!name.endsWith("_total")) throw new Error(`counter ${name} must end in _total`);
    this.header(name, "counter", help);
    for (const [labels, value] of samples) this.lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
    return this;
  }

  /** A gauge family. */
  gauge(name: string, help: string, samples: Iterable<[Labels | undefined, number]>): this {
    this.header(name, "gauge", help);
    for (const [labels, value] of samples) this.lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
    return this;
  }

  /** A histogram family: one cumulative series per labelled histogram. */
  histogram(name: string, help: string, samples: Iterable<[Labels | undefined, FixedHistogram]>): this {
    this.header(name, "histogram", help);
    for (const [labels, h] of samples) {
      let cumulative = 0;
      for (let i = 0; i < h.bounds.length; i++) {
        cumulative += h.counts[i];
        this.lines.push(`${name}_bucket${labelText(labels, ["le", formatValue(h.bounds[i])])} ${cumulative}`);
      }
      this.lines.push(`${name}_bucket${labelText(labels, ["le", "+Inf"])} ${h.count}`);
      this.lines.push(`${name}_sum${labelText(labels)} ${formatValue(h.sum)}`);
      this.lines.push(`${name}_count${labelText(labels)} ${h.count}`);
    }
    return this;
  }

  /** The exposition text (ends with a newline). */
  text(): string {
    return this.lines.length === 0 ? "" : `${this.lines.join("\n")}\n`;
  }
}
