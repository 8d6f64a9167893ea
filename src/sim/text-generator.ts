/**
 * Deterministic "model output": token text derived from a hash of (model, prompt, index), so the
 * same request always gets the same answer and different models answer differently. Every token
 * is plain lowercase ASCII, so it can be spliced into JSON without escaping.
 */

/** 32-bit FNV-1a over the UTF-16 code units of `text`, continuing from `hash`. */
function fnv1a(text: string, hash = 0x811c9dc5): number {
  let h = hash;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A 32-bit integer mixer (murmur3 finaliser): spreads consecutive inputs over the range. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const VOCAB = (
  "the a of and to in is that it for on with as was at by an be this from or are which not have " +
  "model token stream river stone light quiet bright swift amber cedar delta ember falcon garnet " +
  "harbor island jasper kestrel lantern meadow nectar orchid pebble quartz raven saffron timber " +
  "umber velvet willow yonder zephyr signal switch track rail line train station north south east " +
  "west answer question reason simple clear steady gentle rapid distant near early late always " +
  "never often seldom because although while until after before during within beyond across"
).split(" ");

/** Starting hash of one answer: the model and the prompt key, separated so they cannot blur. */
export function answerSeed(model: string, promptKey: string): number {
  return fnv1a(promptKey, fnv1a("\u0000", fnv1a(model)));
}

/**
 * Token `index` of the answer with `seed`. The first token is capitalised and has no leading
 * space; the others start with a space.
 */
export function tokenText(seed: number, index: number): string {
  const word = VOCAB[mix32(seed + Math.imul(index, 0x9e3779b1)) % VOCAB.length]!;
  if (index === 0) return word.charAt(0).toUpperCase() + word.slice(1);
  return ` ${word}`;
}

/** The whole answer of `count` tokens. */
export function answerText(seed: number, count: number): string {
  let out = "";
  for (let i = 0; i < count; i++) out += tokenText(seed, i);
  return out;
}

/** Token id `index` of the answer (for `/api/generate`'s `context`). */
export function tokenId(seed: number, index: number): number {
  return mix32(seed ^ Math.imul(index + 1, 0x27d4eb2d)) % 151_936;
}

/** Rough prompt token count, about four characters a token, at least 1. */
export function countPromptTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Embedding dimension of the simulated models. */
const EMBEDDING_DIMENSIONS = 8;

/** A deterministic, L2-normalised embedding of `text` for `model`. */
export function embedding(model: string, text: string, dimensions = EMBEDDING_DIMENSIONS): number[] {
  const seed = answerSeed(model, text);
  const v = new Array<number>(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    const x = mix32(seed + Math.imul(i + 1, 0x9e3779b1)) / 0x1_0000_0000 - 0.5;
    v[i] = x;
    norm += x * x;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < dimensions; i++) v[i] = Math.round(v[i]! * scale * 1e6) / 1e6;
  return v;
}
