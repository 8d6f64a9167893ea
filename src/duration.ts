/**
 * Durations: the one grammar every duration Turnout reads is written in — config files, admin
 * inputs (an experiment's `duration`, a variant's or a switch's `keep_alive`), CLI flags and the
 * simulator's flags. It is Go's `time.ParseDuration` (what Ollama reads) plus a day unit and
 * bare numbers:
 *
 * ```
 * duration = [ "+" | "-" ] ( "0" | number | part { part } )
 * part     = number unit
 * number   = digits [ "." [ digits ] ] | "." digits
 * unit     = "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h" | "d"
 * ```
 *
 * - Units: nanoseconds, microseconds (`us`, or `µs` with U+00B5 or U+03BC), milliseconds,
 *   seconds, minutes, hours and days of 24 hours. Lower case only: `5S` is refused.
 * - Parts add up, in any order: `1h30m` = `90m` = `1.5h` = `30m1h`; `7d12h` is 180 hours.
 * - Whitespace around the text is ignored; inside it is refused (`5 s`, `1h 30m`).
 * - Bare numbers (no unit) mean what the field says ({@link DurationRule.bare}): milliseconds in
 *   config files and in `--…-timeout`, `--interval` (rollouts) and `--…-ms` flags;
 *   seconds in `keep_alive` and the simulator's `--keep-alive` (Ollama's meaning) and in
 *   `turnout experiment report --interval`; an experiment's `duration` needs a unit (`24` alone
 *   is refused as ambiguous). `0` alone is zero everywhere, as in Go. A YAML number in a config
 *   file is a bare number.
 * - Negative values: only `keep_alive` takes them, and any negative value there means "keep the
 *   model loaded forever", as in Ollama. Everywhere else a negative value is refused.
 * - Limits, per field: config files and the CLI's timeout, interval and `--…-ms` flags 0 to
 *   4294967295 ms (49d17h2m47.295s; `--fleet-timeout` and `--drain-timeout` more than 0;
 *   `experiment report --interval` whole seconds); an experiment's `duration` more than 0 and
 *   at most 366d; `turnout key create --expires` more than 0 and at most 3660d; `keep_alive`
 *   at most 106751d23h47m16.854s (Go's limit of 2^63-1 ns, in whole ms), negative values
 *   unbounded. A number of more than 40 digits is not a duration.
 * - Precision: nanoseconds. Fields that hold whole milliseconds (config files, CLI timeouts and
 *   intervals) round to the nearest millisecond; the others keep fractions (`1500us` is 1.5 ms
 *   for `--load-ms`, 2 ms in a config file).
 *
 * `keep_alive` is forwarded to Ollama, which takes a Go duration (no `d`, no bare number in a
 * string) or a JSON number of seconds: {@link ollamaKeepAlive} turns every accepted text into
 * such a value with the same meaning. The simulator reads the `keep_alive` of the requests it
 * gets exactly as Ollama does ({@link parseGoDuration}).
 */

const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
};
const NS_PER_MS = 1_000_000n;
/** Longest duration Go (and so Ollama) can hold: 2^63-1 ns. */
const MAX_GO_NS = (1n << 63n) - 1n;
/** Digits beyond these cannot change a value that fits in Go's range. */
const MAX_DIGITS = 40;

/** Longest timer Turnout's config files and CLI flags accept, in ms (4294967295 ms ≈ 49.7 days). */
export const MAX_TIMER_MS = 0xffff_ffff;

/** What a field accepts: how bare numbers read, whether negatives are taken, the range. */
export interface DurationRule {
  /** What a number without a unit means: milliseconds, seconds, or refused (a unit is needed;
   * `0` alone is still zero). */
  readonly bare: "ms" | "s" | "refused";
  /** Negative values are taken (they mean "forever"); otherwise refused. Default false. */
  readonly negative?: boolean;
  /** The value must be more than 0; otherwise 0 is taken. Default false. */
  readonly positive?: boolean;
  /** Largest value, in ms. */
  readonly maxMs: number;
  /** Round to the nearest whole millisecond (fields that hold ms). Default false. */
  readonly wholeMs?: boolean;
  /** What the field accepts, for messages: `a duration such as "30s" or "10m"`. */
  readonly accepted: string;
}

/** Durations in config files (timeouts, intervals, ejections, windows): bare numbers are ms. */
export const CONFIG_DURATION: DurationRule = {
  bare: "ms",
  maxMs: MAX_TIMER_MS,
  wholeMs: true,
  accepted: 'a duration such as "250ms", "5s", "5m" or a number of ms',
};

/** CLI timeouts (`turnout switch --fleet-timeout/--drain-timeout`): more than 0, bare numbers ms. */
export const TIMEOUT_FLAG: DurationRule = {
  bare: "ms",
  positive: true,
  maxMs: MAX_TIMER_MS,
  wholeMs: true,
  accepted: 'a duration such as "30s" or "10m"',
};

/** CLI intervals in ms (`turnout rollout start --interval`): 0 for the default, bare numbers ms. */
export const INTERVAL_FLAG: DurationRule = {
  bare: "ms",
  maxMs: MAX_TIMER_MS,
  wholeMs: true,
  accepted: 'a duration such as "30s" or "2m"',
};

/** CLI intervals in seconds (`turnout experiment report --interval`): bare numbers are seconds. */
export const SECONDS_FLAG: DurationRule = {
  bare: "s",
  maxMs: MAX_TIMER_MS,
  wholeMs: true,
  accepted: 'a whole number of seconds or a duration such as "30s" or "1m"',
};

/** CLI flags named `--…-ms` (the simulator's, `turnout rollout start --max-p99-ttft-ms`): bare
 * numbers are ms, fractions kept. */
export const MS_FLAG: DurationRule = {
  bare: "ms",
  maxMs: MAX_TIMER_MS,
  accepted: 'a number of ms or a duration such as "250ms" or "1.5s"',
};

/** An experiment's `duration`: more than 0, at most 366 days, a unit required. */
export const EXPERIMENT_DURATION: DurationRule = {
  bare: "refused",
  positive: true,
  maxMs: 366 * 86_400_000,
  accepted: 'a duration such as "24h", "90m", "1h30m" or "7d"',
};

/** A key's lifetime (`turnout key create --expires 90d`): more than 0, at most 3660 days, a unit required. */
export const KEY_LIFETIME: DurationRule = {
  bare: "refused",
  positive: true,
  maxMs: 3660 * 86_400_000,
  wholeMs: true,
  accepted: 'a duration such as "90d" or "12h", or a time such as "2031-01-01T00:00:00Z"',
};

/** Ollama's `keep_alive` (route variants, switches, the simulator's default): bare numbers are
 * seconds, negative means forever. */
export const KEEP_ALIVE: DurationRule = {
  bare: "s",
  negative: true,
  maxMs: Number(MAX_GO_NS / NS_PER_MS), // 106751d23h47m16.854s
  accepted: 'a duration such as "30m" or "-1"',
};

/** Why a text is not a duration of the grammar. */
type ScanFailure = "invalid" | "missing-unit" | "unknown-unit";

/** A scanned text: its magnitude in ns (unbounded) and sign, or why it is not a duration.
 * `bare` is the number's text when the whole text is one number without a unit (`ns` is then
 * 0: its unit is the field's). */
type Scan =
  | { ok: true; ns: bigint; negative: boolean; bare: string | undefined }
  | { ok: false; why: ScanFailure; unit?: string };

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";

/** ns of `digits[.fraction]` of `unitNs` each, truncated to whole ns (as Go does). */
function partNs(whole: string, fraction: string, unitNs: bigint): bigint {
  let ns = BigInt(whole === "" ? "0" : whole) * unitNs;
  if (fraction !== "") {
    const f = fraction.slice(0, MAX_DIGITS);
    ns += (BigInt(f) * unitNs) / 10n ** BigInt(f.length);
  }
  return ns;
}

/** Scans `s` by the grammar; `days` says whether the `d` unit exists (not in Go's own). */
function scan(s: string, days: boolean): Scan {
  let i = 0;
  let negative = false;
  if (s[0] === "-" || s[0] === "+") {
    negative = s[0] === "-";
    i = 1;
  }
  if (s.length === i + 1 && s[i] === "0") return { ok: true, ns: 0n, negative, bare: undefined };
  if (i === s.length) return { ok: false, why: "invalid" };
  const first = i;
  let total = 0n;
  while (i < s.length) {
    const start = i;
    while (isDigit(s[i])) i++;
    const whole = s.slice(start, i);
    let fraction = "";
    if (s[i] === ".") {
      const from = ++i;
      while (isDigit(s[i])) i++;
      fraction = s.slice(from, i);
    }
    if (whole === "" && fraction === "") return { ok: false, why: "invalid" };
    if (whole.replace(/^0+/, "").length > MAX_DIGITS) return { ok: false, why: "invalid" };
    const unitStart = i;
    while (i < s.length && s[i] !== "." && !isDigit(s[i])) i++;
    const unit = s.slice(unitStart, i);
    if (unit === "") {
      if (start === first && i === s.length) return { ok: true, ns: 0n, negative, bare: s.slice(first) };
      return { ok: false, why: "missing-unit" };
    }
    const unitNs = UNIT_NS[unit];
    if (unitNs === undefined || (unit === "d" && !days)) return { ok: false, why: "unknown-unit", unit };
    total += partNs(whole, fraction, unitNs);
  }
  return { ok: true, ns: total, negative, bare: undefined };
}

/**
 * The outcome of {@link parseDuration}: the value in ms, or why not, saying what the field
 * accepts. `message` is whole but for the field's name, which the caller adds
 * (`"soon" is not a duration such as "30m" or "-1"`, `must not be negative, got "-5m"`); `must`
 * is its rule alone (`must be a duration such as …`, `must not be negative`), for callers that
 * show the value their own way.
 */
export type DurationResult = { ok: true; ms: number } | { ok: false; message: string; must: string };

/** `ns` as days (when `days`), hours, minutes and seconds with a fraction: "1d2h3m4.5s". */
function formatNs(ns: bigint, days: boolean): string {
  if (ns === 0n) return "0s";
  let rest = ns < 0n ? -ns : ns;
  let out = ns < 0n ? "-" : "";
  for (const [unit, size] of [
    ["d", UNIT_NS.d!],
    ["h", UNIT_NS.h!],
    ["m", UNIT_NS.m!],
  ] as const) {
    if (unit === "d" && !days) continue;
    if (rest >= size) {
      out += `${rest / size}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0n) {
    const seconds = rest / UNIT_NS.s!;
    const fraction = (rest % UNIT_NS.s!).toString().padStart(9, "0").replace(/0+$/, "");
    out += `${seconds}${fraction === "" ? "" : `.${fraction}`}s`;
  }
  return out;
}

/** `ms` as the grammar writes it, largest units first: 90000 → "1m30s", 366 days → "366d". */
export function formatDuration(ms: number): string {
  const whole = Math.trunc(ms);
  return formatNs(BigInt(whole) * NS_PER_MS + BigInt(Math.round((ms - whole) * 1e6)), true);
}

function rangeMessage(rule: DurationRule): string {
  const max = formatDuration(rule.maxMs);
  if (rule.negative) return `must be at most ${max}`;
  return rule.positive ? `must be more than 0 and at most ${max}` : `must be from 0 to ${max}`;
}

/**
 * Reads a duration by `rule`: text of the grammar (see the module doc), or a number, which reads
 * as a bare number. Never throws; a refusal says what the field accepts.
 */
export function parseDuration(value: string | number, rule: DurationRule): DurationResult {
  const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
  const notOne: DurationResult = { ok: false, message: `${shown} is not ${rule.accepted}`, must: `must be ${rule.accepted}` };
  const outOfRange = (must: string): DurationResult => ({ ok: false, message: `${must}, got ${shown}`, must });
  let ms: number;
  let negative: boolean;
  if (typeof value === "number") {
    if (!Number.isFinite(value) || rule.bare === "refused") return notOne;
    negative = value < 0;
    ms = Math.abs(value) * (rule.bare === "s" ? 1000 : 1);
  } else {
    const s = scan(value.trim(), true);
    if (!s.ok) return notOne;
    negative = s.negative;
    if (s.bare === undefined) ms = Number(s.ns) / 1e6;
    else if (rule.bare === "refused") return notOne;
    else ms = Number(partNs(...splitNumber(s.bare.replace(/^[+-]/, "")), UNIT_NS[rule.bare]!)) / 1e6;
  }
  if (rule.wholeMs) ms = Math.round(ms);
  if (negative && ms !== 0) {
    if (!rule.negative) return outOfRange("must not be negative");
    return { ok: true, ms: -ms };
  }
  if (ms > rule.maxMs || (rule.positive && ms === 0)) return outOfRange(rangeMessage(rule));
  return { ok: true, ms };
}

function splitNumber(text: string): [string, string] {
  const dot = text.indexOf(".");
  return dot < 0 ? [text, ""] : [text.slice(0, dot), text.slice(dot + 1)];
}

const GO_MESSAGES: Record<ScanFailure, string> = {
  invalid: "time: invalid duration ",
  "missing-unit": "time: missing unit in duration ",
  "unknown-unit": "time: unknown unit ",
};

/**
 * Go's own grammar, as Ollama reads a `keep_alive` string: the grammar above without `d`, without
 * bare numbers (but `0`) and without trimming. Answers ms (negative kept); throws Go's message
 * (`time: invalid duration "soon"`, `time: missing unit in duration "300"`,
 * `time: unknown unit "d" in duration "7d"`).
 */
export function parseGoDuration(text: string): number {
  const s = scan(text, false);
  const quoted = JSON.stringify(text);
  if (!s.ok) {
    const unit = s.why === "unknown-unit" ? `${JSON.stringify(s.unit)} in duration ` : "";
    throw new Error(`${GO_MESSAGES[s.why]}${unit}${quoted}`);
  }
  if (s.bare !== undefined) throw new Error(`${GO_MESSAGES["missing-unit"]}${quoted}`);
  if (s.ns > (s.negative ? MAX_GO_NS + 1n : MAX_GO_NS)) throw new Error(`${GO_MESSAGES.invalid}${quoted}`);
  const ms = Number(s.ns) / 1e6;
  return s.negative && ms !== 0 ? -ms : ms;
}

/**
 * A `keep_alive` accepted by {@link KEEP_ALIVE}, as the value of an Ollama request's
 * `keep_alive` with the same meaning: a whole number of seconds as a JSON number (as given);
 * text Go reads as it is, unchanged; anything else (days, a fraction of seconds without a unit)
 * as Go duration text (`7d` → `168h`, `1.5` → `1.5s`); a negative value Go cannot hold as -1
 * (forever either way). Text the grammar refuses is returned as it is.
 */
export function ollamaKeepAlive(text: string): string | number {
  const t = text.trim();
  if (/^-?\d+$/.test(t)) return Number(t);
  const go = scan(t, false);
  if (go.ok && go.bare === undefined && go.ns <= (go.negative ? MAX_GO_NS + 1n : MAX_GO_NS)) return t;
  const s = scan(t, true);
  if (!s.ok) return t;
  if (s.negative) return -1;
  const ns = s.bare === undefined ? s.ns : partNs(...splitNumber(s.bare.replace(/^\+/, "")), UNIT_NS.s!);
  return formatNs(ns, false);
}
