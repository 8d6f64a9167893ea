/**
 * A key's `max_tokens_per_request` on a decoded request body: the generation length the node is
 * asked for is at most the cap. Ollama's native API reads it from `options.num_predict` (absent or
 * negative means "until the model stops" or "fill the context", so both become the cap); its
 * OpenAI-compatible API from `max_tokens` or `max_completion_tokens` (absent means unbounded, so
 * `max_tokens` is set). A value below the cap stays; a value of the wrong type is left for the
 * node to refuse as Ollama would.
 */

/** A generation length clamped to `max`: numbers above it or negative become `max`. */
function clamp(value: unknown, max: number): unknown {
  if (value === undefined || value === null) return max;
  if (typeof value !== "number") return value;
  return value < 0 || value > max ? max : value;
}

/** Clamps the `options.num_predict` of `body` (made when absent) to `max`. */
function clampNumPredict(body: Record<string, unknown>, max: number, create: boolean): void {
  const options = body.options;
  if (options === undefined || options === null) {
    if (create) body.options = { num_predict: max };
    return;
  }
  if (typeof options !== "object" || Array.isArray(options)) return;
  const o = options as Record<string, unknown>;
  if (create || "num_predict" in o) o.num_predict = clamp(o.num_predict, max);
}

/**
 * Clamps the generation length of a request body (the proxy's own parse, rewritten in place) to
 * `max` (> 0); `openAi` for the /v1 API's fields, else Ollama's native (and Connect's) options.
 */
export function clampMaxTokens(body: Record<string, unknown>, openAi: boolean, max: number): void {
  if (!openAi) return clampNumPredict(body, max, true);
  let set = false;
  for (const field of ["max_tokens", "max_completion_tokens"]) {
    if (field in body) {
      body[field] = clamp(body[field], max);
      set = true;
    }
  }
  if (!set) body.max_tokens = max;
  // A client may send Ollama's options to /v1 too.
  clampNumPredict(body, max, false);
}
