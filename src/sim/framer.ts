/**
 * The seam between the generation engine (timing, slots, faults) and each API dialect's wire
 * format. A framer turns tokens and final numbers into bytes; it knows nothing about time.
 */

/** How a generation ended and what it cost, as Ollama reports it (durations in ns). */
export interface GenerationResult {
  doneReason: "stop" | "length";
  promptTokens: number;
  evalCount: number;
  totalNs: number;
  loadNs: number;
  promptEvalNs: number;
  evalNs: number;
}

/** One dialect's framing of a generation. */
export interface Framer {
  /** Content type of a streamed answer. */
  readonly streamType: string;
  /** Content type of a non-streamed answer. */
  readonly wholeType: string;
  /** Stream chunk carrying content token `index` (text is JSON-safe). */
  chunk(text: string, index: number): string;
  /** The terminal chunk(s) of a stream. */
  end(result: GenerationResult): string;
  /** The single answer of a non-streaming request, holding the whole `text` (no trailing newline). */
  whole(text: string, result: GenerationResult): string;
  /** An in-band error that ends a stream after its first byte. */
  streamError(message: string): string;
}

/** Ollama's metrics fields (`,"total_duration":…` …), zero values omitted like Go's omitempty. */
export function metricsJson(r: GenerationResult): string {
  let s = "";
  if (r.totalNs > 0) s += `,"total_duration":${r.totalNs}`;
  if (r.loadNs > 0) s += `,"load_duration":${r.loadNs}`;
  if (r.promptTokens > 0) s += `,"prompt_eval_count":${r.promptTokens}`;
  if (r.promptEvalNs > 0) s += `,"prompt_eval_duration":${r.promptEvalNs}`;
  if (r.evalCount > 0) s += `,"eval_count":${r.evalCount}`;
  if (r.evalNs > 0) s += `,"eval_duration":${r.evalNs}`;
  return s;
}

/** OpenAI `usage` object. */
export function usageJson(r: GenerationResult): string {
  return `{"prompt_tokens":${r.promptTokens},"completion_tokens":${r.evalCount},"total_tokens":${r.promptTokens + r.evalCount}}`;
}
