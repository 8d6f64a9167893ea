/**
 * Relays a streamed answer (NDJSON for Ollama native, SSE for /v1) line-framed and untouched but
 * for the model name (and, for /v1, the minted id), while noting what accounting needs: the final
 * chunk's token counts, an in-band error, and whether the stream ended properly. Whole lines go out
 * as soon as they arrive; only an incomplete trailing line waits for its end.
 */
import { lastNumberAfter, numberAfter, replaceAll, stringAfter } from "./byte-rewrite.ts";

const NL = 0x0a;
const DONE_TRUE = Buffer.from('"done":true');
const ERROR_OBJ = Buffer.from('{"error"');
const ERROR_KEY = Buffer.from('"error":');
const MESSAGE_KEY = Buffer.from('"message":');
const SSE_DONE = Buffer.from("data: [DONE]");
const SSE_DATA = Buffer.from("data: ");
const USAGE = Buffer.from('"usage":{');
const PROMPT_EVAL_COUNT = Buffer.from('"prompt_eval_count":');
const EVAL_COUNT = Buffer.from('"eval_count":');
const EVAL_DURATION = Buffer.from('"eval_duration":');
const PROMPT_TOKENS = Buffer.from('"prompt_tokens":');
const COMPLETION_TOKENS = Buffer.from('"completion_tokens":');
const ID_KEY = Buffer.from('"id":"');

/** Accounting read from an answer. */
export class AnswerTally {
  promptTokens = 0;
  completionTokens = 0;
  /** Upstream-measured generation time in ns (native only; 0 when unknown). */
  evalDurationNs = 0;
  /** The answer reached its proper end (`done:true`, `[DONE]`, or a whole body). */
  complete = false;
  /** The upstream put an error in the answer; its message. */
  error = "";
}

/** Rewrites and accounts one streamed answer. */
export class AnswerRelay extends AnswerTally {
  private readonly sse: boolean;
  private readonly modelPattern: Buffer;
  private readonly modelReplacement: Buffer | null;
  private readonly mintedId: Buffer | null;
  private readonly dropUsage: boolean;
  private idPattern: Buffer | null = null;
  private carry: Buffer | null = null;

  /**
   * @param sse true for /v1 SSE, false for NDJSON.
   * @param modelPattern `"model":"<tag>"` bytes; @param modelReplacement the route's, or null when equal.
   * @param mintedId `"id":"<minted>"` bytes for /v1, else null.
   * @param dropUsage drop the usage-only frame the proxy asked for on the client's behalf.
   */
  constructor(sse: boolean, modelPattern: Buffer, modelReplacement: Buffer | null, mintedId: Buffer | null, dropUsage: boolean) {
    super();
    this.sse = sse;
    this.modelPattern = modelPattern;
    this.modelReplacement = modelReplacement;
    this.mintedId = mintedId;
    this.dropUsage = dropUsage;
  }

  /** The bytes to send for `chunk` (possibly empty), holding back an incomplete last line. */
  push(chunk: Buffer): Buffer {
    let buf = chunk;
    if (this.carry !== null) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    const last = buf.lastIndexOf(NL);
    if (last === -1) {
      this.carry = Buffer.from(buf);
      return EMPTY;
    }
    if (last !== buf.length - 1) {
      this.carry = Buffer.from(buf.subarray(last + 1));
      buf = buf.subarray(0, last + 1);
    }
    return this.sse ? this.sse_(buf) : this.ndjson(buf);
  }

  /** Bytes of an incomplete last line left when the upstream ended (empty when none). */
  flush(): Buffer {
    const rest = this.carry;
    this.carry = null;
    if (rest === null) return EMPTY;
    const out = this.sse ? this.sse_(rest) : this.ndjson(rest);
    return out;
  }

  private ndjson(buf: Buffer): Buffer {
    if (!this.complete && this.error === "") {
      const done = buf.indexOf(DONE_TRUE);
      if (done !== -1) {
        const start = buf.lastIndexOf(NL, done) + 1;
        this.complete = true;
        this.promptTokens = numberAfter(buf, PROMPT_EVAL_COUNT, start);
        this.completionTokens = numberAfter(buf, EVAL_COUNT, start);
        this.evalDurationNs = numberAfter(buf, EVAL_DURATION, start);
      } else {
        const err = buf.indexOf(ERROR_OBJ);
        if (err !== -1 && (err === 0 || buf[err - 1] === NL)) this.error = stringAfter(buf, ERROR_KEY, err) || "upstream error";
      }
    }
    return this.modelReplacement === null ? buf : replaceAll(buf, this.modelPattern, this.modelReplacement);
  }

  private sse_(buf: Buffer): Buffer {
    if (buf.indexOf(SSE_DONE) !== -1) this.complete = true;
    const err = buf.indexOf(ERROR_OBJ);
    if (err !== -1) {
      const bare = err === 0 || buf[err - 1] === NL;
      if (bare || (err >= 6 && buf.subarray(err - 6, err).equals(SSE_DATA))) {
        this.error = stringAfter(buf, MESSAGE_KEY, err) || stringAfter(buf, ERROR_KEY, err) || "upstream error";
        // Ollama writes a mid-stream /v1 error as a bare JSON line; clients only see `data:` frames.
        if (bare) {
          const end = buf.indexOf(NL, err);
          buf = Buffer.concat([buf.subarray(0, err), SSE_DATA, buf.subarray(err, end === -1 ? buf.length : end), TWO_NL]);
        }
      }
    }
    const usage = buf.indexOf(USAGE);
    if (usage !== -1) {
      this.promptTokens = numberAfter(buf, PROMPT_TOKENS, usage);
      this.completionTokens = numberAfter(buf, COMPLETION_TOKENS, usage);
      if (this.dropUsage) buf = dropLine(buf, usage);
    }
    if (this.modelReplacement !== null) buf = replaceAll(buf, this.modelPattern, this.modelReplacement);
    if (this.mintedId !== null) {
      if (this.idPattern === null) this.idPattern = idPatternOf(buf);
      if (this.idPattern !== null) buf = replaceAll(buf, this.idPattern, this.mintedId);
    }
    return buf;
  }
}

/**
 * A whole (non-streamed) 2xx answer with the model name and /v1 id rewritten; its counts go to
 * `tally` (native `prompt_eval_count`/`eval_count`/`eval_duration`, /v1 `usage`).
 */
export function rewriteWholeAnswer(
  body: Buffer,
  native: boolean,
  modelPattern: Buffer,
  modelReplacement: Buffer | null,
  mintedId: Buffer | null,
  tally: AnswerTally,
): Buffer {
  tally.complete = true;
  if (native) {
    tally.promptTokens = lastNumberAfter(body, PROMPT_EVAL_COUNT);
    tally.completionTokens = lastNumberAfter(body, EVAL_COUNT);
    tally.evalDurationNs = lastNumberAfter(body, EVAL_DURATION);
  } else {
    tally.promptTokens = lastNumberAfter(body, PROMPT_TOKENS);
    tally.completionTokens = lastNumberAfter(body, COMPLETION_TOKENS);
  }
  if (modelReplacement !== null) body = replaceAll(body, modelPattern, modelReplacement);
  if (mintedId !== null) {
    const pattern = idPatternOf(body);
    if (pattern !== null) body = replaceAll(body, pattern, mintedId);
  }
  return body;
}

const EMPTY = Buffer.alloc(0);
const TWO_NL = Buffer.from("\n\n");

/** `"id":"<upstream id>"` of the first frame, or null. */
function idPatternOf(buf: Buffer): Buffer | null {
  const at = buf.indexOf(ID_KEY);
  if (at === -1) return null;
  const end = buf.indexOf(0x22, at + ID_KEY.length);
  return end === -1 ? null : Buffer.from(buf.subarray(at, end + 1));
}

/** `buf` without the line holding `at` and the blank line after it. */
function dropLine(buf: Buffer, at: number): Buffer {
  const start = buf.lastIndexOf(NL, at) + 1;
  let end = buf.indexOf(NL, at);
  end = end === -1 ? buf.length : end + 1;
  if (buf[end] === NL) end++;
  return Buffer.concat([buf.subarray(0, start), buf.subarray(end)]);
}
