/**
 * What a client may not decide about a model's runner: the Ollama options that make a node reload
 * the model, dropped from every request, and the variant's own options laid over the rest (the
 * variant rewrite of route-request.ts).
 */
import type { JsonObject } from "@bufbuild/protobuf";

/**
 * Ollama options that configure the loaded runner rather than one generation: a request whose
 * values differ from the loaded runner's makes the node reload the model (Ollama's scheduler
 * compares `api.Options.Runner` in `needsReload`: num_ctx, num_batch, num_gpu, main_gpu, use_mmap,
 * num_thread; older releases also low_vram, f16_kv, logits_all, vocab_only, use_mlock, numa).
 * Clients must not be able to set them: only a variant's own options do.
 */
export const RUNNER_OPTIONS: readonly string[] = [
  "num_ctx",
  "num_batch",
  "num_gpu",
  "main_gpu",
  "use_mmap",
  "use_mlock",
  "num_thread",
  "low_vram",
  "f16_kv",
  "logits_all",
  "vocab_only",
  "numa",
];

/**
 * The options to forward: the client's with every runner option dropped (mutated in place: the
 * object is the proxy's own parse), then the variant's `overrides` on top (variant wins). Sampling
 * options (temperature, top_p, seed, num_predict, …) pass. Answers `client` unchanged when it is
 * not an object and there are no overrides (the node reports the bad value as Ollama would).
 */
export function normalizeOptions(client: unknown, overrides: JsonObject | undefined): unknown {
  if (client === null || typeof client !== "object" || Array.isArray(client))
    return overrides === undefined ? client : { ...overrides };
  const options = client as Record<string, unknown>;
  for (const key of RUNNER_OPTIONS) if (key in options) delete options[key];
  return overrides === undefined ? options : Object.assign(options, overrides);
}
