/**
 * Plain-text tables for the bench report, and the number formats they use: milliseconds with
 * microsecond precision, signed deltas, ratios.
 */

/** Milliseconds with µs precision ("1.234"), or "—". */
export function ms(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "—" : value.toFixed(3);
}

/** Signed milliseconds ("+0.412", "-0.020"), or "—". */
export function deltaMs(value: number | undefined, base: number | undefined): string {
  if (value === undefined || base === undefined || !Number.isFinite(value) || !Number.isFinite(base)) return "—";
  const d = value - base;
  return (d >= 0 ? "+" : "") + d.toFixed(3);
}

/** Whole number with thousands separators, or "—". */
export function int(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "—" : Math.round(value).toLocaleString("en-US");
}

/** Ratio "1.12×", or "—". */
export function ratio(value: number | undefined, base: number | undefined): string {
  if (value === undefined || base === undefined || !Number.isFinite(value) || !(base > 0)) return "—";
  return `${(value / base).toFixed(2)}×`;
}

/**
 * Formats a table: a title, a header row, a rule and the rows. The first column is left-aligned,
 * the others right-aligned.
 */
export function formatTable(title: string, headers: string[], rows: string[][], notes: string[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  const out = [title, line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
  for (const note of notes) out.push(`  ${note}`);
  return `${out.join("\n")}\n`;
}
