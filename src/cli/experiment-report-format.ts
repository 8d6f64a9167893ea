/**
 * Plain-text tables of an experiment report for `turnout experiment report`: a header line, one
 * row per arm, one row per comparison against control, the SRM check and the verdict.
 */
import { ExperimentStatus, type Experiment, type ExperimentReport } from "../../gen/turnout/v1/experiment_pb.js";

/** Left-aligned first column, right-aligned others, two spaces between columns. */
function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join("  ")
      .trimEnd(),
  );
}

const ms = (v: number | undefined) => (v === undefined ? "-" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const pct = (v: number) => `${(v * 100).toFixed(v !== 0 && Math.abs(v) < 0.1 ? 2 : 1)}%`;
const signedPct = (v: number) => `${v >= 0 ? "+" : "−"}${pct(Math.abs(v))}`;
const p = (v: number) => (v < 0.001 ? "<0.001" : v.toFixed(3));
const statusName = (s: ExperimentStatus) => ExperimentStatus[s] ?? String(s);

/** One line per experiment for `turnout experiment list`. */
export function formatExperiment(e: Experiment): string {
  return `${e.id}  ${statusName(e.status)}  route=${e.route}  arms=${e.arms.map((a) => `${a.name}:${a.weight}`).join(",")}  duration=${e.duration}`;
}

/** The report as printed lines. */
export function formatReport(r: ExperimentReport): string[] {
  const lines = [`experiment ${r.experimentId} (${r.name})  ${statusName(r.status)}  outcomes ${r.outcomes}`, ""];
  const feedback = [...new Set(r.arms.flatMap((a) => a.feedback.map((f) => f.metric)))].sort();
  lines.push(
    ...table([
      [
        "arm",
        "variant",
        "weight",
        "users",
        "requests",
        "success",
        "errors",
        "ttft p50",
        "p95",
        "p99",
        "mean",
        "latency p50",
        "p95",
        "p99",
        "mean",
        "tok/s",
        ...feedback,
      ],
      ...r.arms.map((a) => [
        a.name,
        a.variant,
        String(a.weight),
        String(a.users),
        String(a.requests),
        pct(a.successRate),
        pct(a.errorRate),
        ms(a.ttftMs?.p50),
        ms(a.ttftMs?.p95),
        ms(a.ttftMs?.p99),
        ms(a.ttftMs?.mean),
        ms(a.latencyMs?.p50),
        ms(a.latencyMs?.p95),
        ms(a.latencyMs?.p99),
        ms(a.latencyMs?.mean),
        a.tokensPerSecond.toFixed(0),
        ...feedback.map((m) => {
          const f = a.feedback.find((x) => x.metric === m);
          return f === undefined ? "-" : f.mean.toFixed(3);
        }),
      ]),
    ]),
  );
  if (r.comparisons.length > 0) {
    lines.push("");
    if (r.phases.length > 1) lines.push(`comparisons on phase ${r.comparedPhase} (the current split)`);
    lines.push(
      ...table([
        ["metric", "arm", "control", "treatment", "lift", "95% CI", "p", "always-valid CI", "outcome"],
        ...r.comparisons.map((c) =>
          c.computed
            ? [
                c.metric,
                c.arm,
                c.controlMean.toPrecision(4),
                c.treatmentMean.toPrecision(4),
                signedPct(c.lift),
                `[${signedPct(c.liftCiLow)}, ${signedPct(c.liftCiHigh)}]`,
                p(c.pValue),
                `[${signedPct(c.sequentialLow)}, ${signedPct(c.sequentialHigh)}]`,
                c.outcome,
              ]
            : [c.metric, c.arm, c.controlMean.toPrecision(4), c.treatmentMean.toPrecision(4), "-", "-", "-", "-", c.outcome],
        ),
      ]),
    );
  }
  const srm = r.sampleRatio;
  if (srm !== undefined) {
    lines.push(
      "",
      `sample ratio: users ${srm.users.join("/")} vs expected ${srm.expectedShares.map((s) => pct(s)).join("/")}  χ² p=${p(srm.pValue)}  ${srm.warning ? `WARNING (${srm.verdict})` : "ok"}`,
    );
  }
  if (r.phases.length > 1) for (const ph of r.phases) lines.push(`phase ${ph.phase}: users ${ph.users.join("/")}`);
  if (r.verdict !== "") lines.push("", `verdict: ${r.verdict}`);
  return lines;
}
