import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CONFIG_DURATION,
  EXPERIMENT_DURATION,
  KEEP_ALIVE,
  MAX_TIMER_MS,
  MS_FLAG,
  SECONDS_FLAG,
  TIMEOUT_FLAG,
  formatDuration,
  ollamaKeepAlive,
  parseDuration,
  parseGoDuration,
  type DurationRule,
} from "../src/duration.ts";
import { keepAliveMs } from "../src/sim/options.ts";

/** `[input, ms]` pairs each rule must read to exactly that many ms. */
function assertAccepts(rule: DurationRule, cases: [string | number, number][]): void {
  for (const [input, ms] of cases)
    assert.deepEqual(parseDuration(input, rule), { ok: true, ms }, `${JSON.stringify(input)} should be ${ms} ms`);
}

/** `[input, message]` pairs each rule must refuse with that message. */
function assertRefuses(rule: DurationRule, cases: [string | number, string][]): void {
  for (const [input, message] of cases) {
    const r = parseDuration(input, rule);
    assert.equal(r.ok, false, `${JSON.stringify(input)} should be refused`);
    if (!r.ok) assert.equal(r.message, message, JSON.stringify(input));
  }
}

test("every unit reads to its ms, parts add up in any order, and fields holding ms round", () => {
  assertAccepts(CONFIG_DURATION, [
    ["250ms", 250],
    ["5s", 5_000],
    ["5m", 300_000],
    ["2h", 7_200_000],
    ["7d", 604_800_000],
    ["1h30m", 5_400_000],
    ["30m1h", 5_400_000],
    ["90m", 5_400_000],
    ["1.5h", 5_400_000],
    ["1h1h", 7_200_000],
    ["1d12h", 129_600_000],
    ["2h45m30s", 9_930_000],
    [".5s", 500],
    ["5.s", 5_000],
    ["1.5s", 1_500],
    ["2000000ns", 2],
    ["1500us", 2],
    ["1000µs", 1],
    ["1000μs", 1],
    ["1400us", 1],
    [" 5s ", 5_000],
    ["+5m", 300_000],
    ["0", 0],
    ["0s", 0],
    ["-0", 0],
    ["42", 42],
    [42, 42],
    ["1.5", 2],
    ["49d17h2m47.295s", MAX_TIMER_MS],
    [MAX_TIMER_MS, MAX_TIMER_MS],
  ]);
  // Fields that keep fractions of a ms (an experiment's end, a keep-alive) keep them.
  assertAccepts(EXPERIMENT_DURATION, [
    ["1500us", 1.5],
    ["1ns", 0.000001],
  ]);
});

test("text that is not a duration is refused saying what the field accepts", () => {
  const accepted = 'is not a duration such as "250ms", "5s", "5m" or a number of ms';
  const bad = [
    "",
    " ",
    "soon",
    "5 s",
    "1h 30m",
    "5S",
    "5sec",
    "5m3",
    "s",
    ".s",
    "-",
    "1.2.3s",
    "1e3",
    "0x10",
    "--5s",
    "5m-3s",
    "1_000ms",
    "١s",
  ];
  assertRefuses(
    CONFIG_DURATION,
    bad.map((t) => [t, `${JSON.stringify(t)} ${accepted}`]),
  );
  assertRefuses(CONFIG_DURATION, [
    [Number.NaN, `NaN ${accepted}`],
    [Number.POSITIVE_INFINITY, `Infinity ${accepted}`],
  ]);
  assert.deepEqual(parseDuration("soon", CONFIG_DURATION), {
    ok: false,
    message: `"soon" ${accepted}`,
    must: 'must be a duration such as "250ms", "5s", "5m" or a number of ms',
  });
});

test("each field's range: negatives only in keep_alive, more than 0 where it must be, a maximum", () => {
  assertRefuses(CONFIG_DURATION, [
    ["-5m", 'must not be negative, got "-5m"'],
    [-1, "must not be negative, got -1"],
    ["49d17h2m47.296s", 'must be from 0 to 49d17h2m47.295s, got "49d17h2m47.296s"'],
    ["50d", 'must be from 0 to 49d17h2m47.295s, got "50d"'],
  ]);
  assertRefuses(TIMEOUT_FLAG, [
    ["0", 'must be more than 0 and at most 49d17h2m47.295s, got "0"'],
    ["0.4ms", 'must be more than 0 and at most 49d17h2m47.295s, got "0.4ms"'],
  ]);
  assertAccepts(TIMEOUT_FLAG, [
    ["30s", 30_000],
    ["250", 250],
    ["10m", 600_000],
  ]);
  assertAccepts(EXPERIMENT_DURATION, [
    ["24h", 86_400_000],
    ["366d", 366 * 86_400_000],
    ["300ms", 300],
  ]);
  assertRefuses(EXPERIMENT_DURATION, [
    ["24", '"24" is not a duration such as "24h", "90m", "1h30m" or "7d"'],
    ["0s", 'must be more than 0 and at most 366d, got "0s"'],
    ["0", 'must be more than 0 and at most 366d, got "0"'],
    ["367d", 'must be more than 0 and at most 366d, got "367d"'],
    ["-1h", 'must not be negative, got "-1h"'],
  ]);
});

test("bare numbers are seconds in keep_alive and report --interval, ms in --…-ms flags; negative keep_alive means forever", () => {
  assertAccepts(KEEP_ALIVE, [
    ["300", 300_000],
    ["1.5", 1_500],
    [300, 300_000],
    ["-1", -1_000],
    [-1, -1_000],
    ["-5m", -300_000],
    ["30m", 1_800_000],
    ["0", 0],
    ["7d", 604_800_000],
    // biome-ignore lint/correctness/noPrecisionLoss: the parser's answer is this literal's nearest double
    ["-99999999999999999999", -99999999999999999999_000],
    ["106751d23h47m16.854s", 9_223_372_036_854],
  ]);
  assertRefuses(KEEP_ALIVE, [
    ["forever", '"forever" is not a duration such as "30m" or "-1"'],
    ["106751d23h47m16.855s", 'must be at most 106751d23h47m16.854s, got "106751d23h47m16.855s"'],
  ]);
  assertAccepts(SECONDS_FLAG, [
    ["5", 5_000],
    ["1m", 60_000],
    ["1500ms", 1_500],
  ]);
  assertAccepts(MS_FLAG, [
    ["800", 800],
    ["1.5s", 1_500],
    ["2500us", 2.5],
    ["0", 0],
  ]);
});

test("Go's own grammar, as Ollama reads a keep_alive string: no days, no bare numbers, Go's messages", () => {
  for (const [text, ms] of [
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["-1.5h", -5_400_000],
    ["0", 0],
    ["+5s", 5_000],
    [".5s", 500],
    ["1µs", 0.001],
  ] as const) {
    assert.equal(parseGoDuration(text), ms, text);
  }
  assert.equal(parseGoDuration("-9223372036854775808ns"), -Number(1n << 63n) / 1e6);
  for (const [text, message] of [
    ["300", 'time: missing unit in duration "300"'],
    ["5m3", 'time: missing unit in duration "5m3"'],
    ["7d", 'time: unknown unit "d" in duration "7d"'],
    ["5 s", 'time: unknown unit " s" in duration "5 s"'],
    [" 5s", 'time: invalid duration " 5s"'],
    ["soon", 'time: invalid duration "soon"'],
    ["", 'time: invalid duration ""'],
    ["9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'],
  ] as const) {
    assert.throws(() => parseGoDuration(text), { message }, text);
  }
});

test("every keep_alive the grammar accepts reaches Ollama in a form Ollama reads the same", () => {
  const cases: [string, string | number][] = [
    ["300", 300],
    ["-1", -1],
    ["0", 0],
    ["30m", "30m"],
    ["1h30m", "1h30m"],
    ["250ms", "250ms"],
    ["1.5h", "1.5h"],
    ["-5m", "-5m"],
    ["7d", "168h"],
    ["1d12h30m", "36h30m"],
    ["0.5d", "12h"],
    ["1.5", "1.5s"],
    ["+5", "5s"],
    [".5", "0.5s"],
    ["0.0", "0s"],
    [" 5m ", "5m"],
    ["-7d", -1],
    ["-0.5", -1],
    // biome-ignore lint/correctness/noPrecisionLoss: the parser's answer is this literal's nearest double
    ["-99999999999999999999", -99999999999999999999],
    ["1d0.25s", "24h0.25s"],
  ];
  for (const [text, sent] of cases) {
    const ours = parseDuration(text, KEEP_ALIVE);
    assert.ok(ours.ok, text);
    assert.deepEqual(ollamaKeepAlive(text), sent, text);
    // The simulator reads keep_alive exactly as Ollama does: numbers are seconds, strings Go's.
    const theirs = keepAliveMs(sent);
    if (ours.ms < 0) assert.ok(theirs < 0, `${text} means forever in Ollama too`);
    else assert.equal(theirs, ours.ms, text);
  }
});

test("formatDuration writes the largest units first", () => {
  assert.deepEqual([90_000, 366 * 86_400_000, 1_500, 0, 5_400_000, MAX_TIMER_MS, 0.001].map(formatDuration), [
    "1m30s",
    "366d",
    "1.5s",
    "0s",
    "1h30m",
    "49d17h2m47.295s",
    "0.000001s",
  ]);
});
