/**
 * The chaos suite's report: a table per window and the totals that must be 0, with a verdict.
 */
import { formatTable } from "../bench/report-table.ts";

/** One window's requests (those that ended in it). */
export interface WindowResult {
  name: string;
  note: string;
  sent: number;
  ok: number;
  failed: number;
  /** Failed requests on a proxy that was down (killed, not serving yet) while they ran. */
  failedOnKilled: number;
  /** Why the other failed requests failed, e.g. "3× p1 HTTP 503"; "" for none. */
  survivorFailures: string;
  /** Answers cut off without a terminal chunk or error line, on proxies that were not killed meanwhile. */
  unterminatedSurvivors: number;
  /** The same on proxies killed while the request ran. */
  unterminatedKilled: number;
}

/** Everything the report says. */
export interface ReportInput {
  loadAtStart: string;
  loadAtEnd: string;
  concurrency: number;
  windowMs: number;
  windows: WindowResult[];
  acked: number;
  failedWrites: number;
  lostWrites: number[];
  completed: number;
  outcomes: number;
  /** `proxy:request id` of completed requests with no outcome. */
  lostOutcomes: string[];
  duplicated: number;
  convergenceMs: number | undefined;
}

/** The text, and whether every number that must be 0 is. */
export function report(r: ReportInput): { text: string; pass: boolean } {
  const rows = r.windows.map((w) => [
    w.name,
    String(w.sent),
    String(w.ok),
    String(w.failed),
    String(w.failedOnKilled),
    String(w.unterminatedSurvivors),
    String(w.unterminatedKilled),
  ]);
  const table = formatTable(
    `Turnout chaos — 2 control planes, 3 proxies, 3 nodes on one nats-server; ${r.concurrency} concurrent mixed requests; windows of ${r.windowMs / 1000} s (load average ${r.loadAtStart} at start, ${r.loadAtEnd} at end)`,
    ["window", "sent", "ok", "failed", "on a down proxy", "unterminated (survivors)", "unterminated (killed)"],
    rows,
    r.windows.map((w) => `${w.name}: ${w.note}${w.survivorFailures ? `; other failures: ${w.survivorFailures}` : ""}`),
  );
  const unterminated = r.windows.reduce((n, w) => n + w.unterminatedSurvivors, 0);
  const checks: [string, number, string][] = [
    ["acknowledged writes lost", r.lostWrites.length, `of ${r.acked} acknowledged (${r.failedWrites} failed writes not counted)`],
    [
      "outcomes of completed requests lost",
      r.lostOutcomes.length,
      `of ${r.completed} completed requests (${r.outcomes} outcomes in the stream)`,
    ],
    ["outcomes duplicated", r.duplicated, "request ids with more than one outcome"],
    ["unterminated streams on processes that were not killed", unterminated, ""],
  ];
  const lines = checks.map(([what, n, detail]) => `  ${what}: ${n}${detail ? `  (${detail})` : ""}  ${n === 0 ? "ok" : "FAIL"}`);
  lines.push(
    `  NATS back → a write served by every proxy: ${r.convergenceMs === undefined ? "not reached within 30 s  FAIL" : `${r.convergenceMs.toFixed(0)} ms`}`,
  );
  if (r.lostOutcomes.length > 0) lines.push(`  first lost: ${r.lostOutcomes.slice(0, 5).join(", ")}`);
  if (r.lostWrites.length > 0) lines.push(`  lost writes: ${r.lostWrites.slice(0, 10).join(", ")}`);
  const pass = checks.every(([, n]) => n === 0) && r.convergenceMs !== undefined;
  return { text: `${table}\n${lines.join("\n")}\nverdict: ${pass ? "PASS" : "FAIL"}\n`, pass };
}
