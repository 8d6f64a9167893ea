/**
 * One inference request's life on a simulated node: wait for a slot (loading the model if
 * cold), time to first token, paced token chunks, the final chunk, and the injected faults.
 * Callback-driven (no promises or per-chunk closures) so the hot path stays cheap; a request
 * with no delays configured is answered synchronously.
 */
import type { ServerResponse } from "node:http";
import { INJECTED_ERROR, INJECTED_STREAM_ERROR } from "./faults.ts";
import type { Framer, GenerationResult } from "./framer.ts";
import { sendJson, type ErrorWriter } from "./http-io.ts";
import type { SlotWaiter } from "./model-runtime.ts";
import type { SimContext } from "./sim-context.ts";
import { answerText, tokenText } from "./text-generator.ts";

/** Ollama's 503 when too many requests wait for a load (two spaces, as in Ollama). */
const BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded";

/** A token generation (chat, generate and their `/v1` forms). */
export interface GenerationWork {
  kind: "generation";
  framer: Framer;
  stream: boolean;
  /** Seed of the answer's tokens (see text-generator). */
  seed: number;
  /** Tokens to generate. */
  count: number;
  doneReason: "stop" | "length";
  promptTokens: number;
}

/** A one-object answer once the slot is held (embeddings, load and unload answers). */
export interface SingleWork {
  kind: "single";
  /** Wait time to first token and slow headers before answering (embeddings), or not (loads). */
  delayed: boolean;
  /** The body, given the load and total durations in ns. */
  render(loadNs: number, totalNs: number): string;
  contentType?: string;
}

/** What one job does. */
export interface JobSpec {
  ctx: SimContext;
  res: ServerResponse;
  /** Request path, for the request-end event. */
  path: string;
  model: string;
  /** keep_alive of the request in ms (FOREVER for negative); undefined = the default. */
  keepAlive: number | undefined;
  sendError: ErrorWriter;
  /** Whether errorRate applies. */
  injectable: boolean;
  work: GenerationWork | SingleWork;
}

/** Job states. */
const WAITING = 0;
const HOLDING = 1;
const DONE = 2;

/** Runs one inference request; `start()` once. */
export class InferenceJob implements SlotWaiter {
  readonly #s: JobSpec;
  #state = WAITING;
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #grantedAt = 0;
  #firstAt = 0;
  #gapMs = 0;
  #index = 0;
  #breakAt = -1;
  #status = 200;

  constructor(spec: JobSpec) {
    this.#s = spec;
  }

  /** Begins: fault roll, then a slot request (which may complete the whole job synchronously). */
  start(): void {
    const { ctx, res } = this.#s;
    ctx.counters.inFlight++;
    this.#startedAt = performance.now();
    if (this.#s.injectable && ctx.faults.roll(ctx.knobs.errorRate)) {
      ctx.counters.injectedErrors++;
      this.#fail(500, INJECTED_ERROR);
      return;
    }
    res.once("close", this.#onClose);
    ctx.runtime.acquire(this.#s.model, this.#s.keepAlive, this);
  }

  granted(): void {
    if (this.#state !== WAITING) return;
    this.#state = HOLDING;
    this.#grantedAt = performance.now();
    const { knobs } = this.#s.ctx;
    const w = this.#s.work;
    const delay = w.kind === "single" && !w.delayed ? 0 : knobs.slowHeadersMs + knobs.ttftMs;
    if (w.kind === "generation") {
      this.#gapMs = knobs.tokensPerSecond > 0 ? 1000 / knobs.tokensPerSecond : 0;
      if (w.stream && this.#s.ctx.faults.roll(knobs.midStreamFailureRate)) this.#breakAt = this.#s.ctx.faults.breakPoint(w.count);
    }
    if (delay > 0) this.#timer = setTimeout(this.#first, delay);
    else this.#first();
  }

  rejected(): void {
    this.#s.ctx.counters.busy++;
    this.#fail(503, BUSY_MESSAGE);
  }

  #first = (): void => {
    this.#timer = undefined;
    if (this.#state !== HOLDING) return;
    this.#firstAt = performance.now();
    const w = this.#s.work;
    if (w.kind === "single") {
      const body = w.render(ns(this.#grantedAt - this.#startedAt), ns(this.#firstAt - this.#startedAt));
      this.#headers();
      sendJson(this.#s.res, 200, body, w.contentType);
      this.#finish();
      return;
    }
    if (!w.stream) {
      const rest = this.#gapMs * (w.count - 1);
      if (rest >= 1) this.#timer = setTimeout(this.#whole, rest);
      else this.#whole();
      return;
    }
    this.#headers();
    this.#s.res.writeHead(200, { "content-type": w.framer.streamType });
    this.#step();
  };

  #whole = (): void => {
    this.#timer = undefined;
    if (this.#state !== HOLDING) return;
    const w = this.#s.work as GenerationWork;
    const text = answerText(w.seed, w.count);
    this.#headers();
    sendJson(this.#s.res, 200, w.framer.whole(text, this.#result(w)), w.framer.wholeType);
    this.#finish();
  };

  /** Writes every chunk that is due, then schedules the next one (drift-free pacing). */
  #step = (): void => {
    this.#timer = undefined;
    if (this.#state !== HOLDING) return;
    const w = this.#s.work as GenerationWork;
    const { res } = this.#s;
    const elapsed = performance.now() - this.#firstAt;
    let out = "";
    while (this.#index < w.count && (this.#gapMs === 0 || this.#index * this.#gapMs <= elapsed)) {
      out += w.framer.chunk(tokenText(w.seed, this.#index), this.#index);
      this.#index++;
      if (this.#index === this.#breakAt) {
        this.#s.ctx.counters.injectedErrors++;
        res.end(out + w.framer.streamError(INJECTED_STREAM_ERROR));
        this.#finish();
        return;
      }
    }
    if (this.#index === w.count) {
      res.end(out + w.framer.end(this.#result(w)));
      this.#finish();
      return;
    }
    if (out !== "") res.write(out);
    const wait = this.#index * this.#gapMs - (performance.now() - this.#firstAt);
    this.#timer = setTimeout(this.#step, wait > 1 ? wait : 1);
  };

  #result(w: GenerationWork): GenerationResult {
    const end = performance.now();
    const loadNs = ns(this.#grantedAt - this.#startedAt);
    const promptEvalNs = Math.max(ns(this.#firstAt - this.#grantedAt), 1000 * w.promptTokens);
    const evalNs = Math.max(ns(end - this.#firstAt), 1000 * w.count);
    const totalNs = Math.max(ns(end - this.#startedAt), loadNs + promptEvalNs + evalNs);
    return { doneReason: w.doneReason, promptTokens: w.promptTokens, evalCount: w.count, totalNs, loadNs, promptEvalNs, evalNs };
  }

  #headers(): void {
    this.#s.ctx.emit({ type: "headers", model: this.#s.model, path: this.#s.path });
  }

  #fail(status: number, message: string): void {
    this.#status = status;
    this.#s.sendError(this.#s.res, status, message);
    this.#state = DONE;
    this.#end();
  }

  #finish(): void {
    this.#state = DONE;
    // End first, then hand the slot on: events then show the order a client sees.
    this.#end();
    this.#s.ctx.runtime.release(this.#s.model);
  }

  #end(): void {
    const { ctx } = this.#s;
    ctx.counters.inFlight--;
    ctx.emit({ type: "request-end", model: this.#s.model, path: this.#s.path, status: this.#status });
  }

  /** The client went away: withdraw from the queue, or stop generating and free the slot. */
  #onClose = (): void => {
    if (this.#state === DONE) return;
    const { ctx } = this.#s;
    ctx.counters.aborted++;
    this.#status = 499;
    if (this.#state === WAITING) {
      this.#state = DONE;
      ctx.runtime.cancel(this.#s.model, this);
      this.#end();
      return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#finish();
  };
}

function ns(ms: number): number {
  return ms > 0 ? Math.round(ms * 1e6) : 0;
}
