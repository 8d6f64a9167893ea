/**
 * The OpenAI-compatible framing of Ollama's `/v1` endpoints: SSE `data:` frames of
 * `chat.completion.chunk` / `text_completion`, the finish chunk, the optional usage chunk and
 * `data: [DONE]`, and the single `chat.completion` / `text_completion` objects.
 */
import { usageJson, type Framer, type GenerationResult } from "./framer.ts";
import { openAIErrorBody, SSE_TYPE } from "./http-io.ts";

/** Per-request identity shared by the `/v1` framers. */
export interface OpenAIFrameIdentity {
  /** Response id, e.g. `chatcmpl-…`. */
  id: string;
  /** The model name as a JSON string literal. */
  modelJson: string;
  /** Unix seconds stamped on every chunk. */
  created: number;
  /** `stream_options.include_usage`. */
  includeUsage: boolean;
}

/** `/v1/chat/completions`. */
export class OpenAIChatFramer implements Framer {
  readonly streamType = SSE_TYPE;
  readonly wholeType = "application/json";
  readonly #head: string;
  readonly #wholeHead: string;
  readonly #includeUsage: boolean;

  constructor(idn: OpenAIFrameIdentity) {
    this.#head = `{"id":"${idn.id}","object":"chat.completion.chunk","created":${idn.created},"model":${idn.modelJson},"system_fingerprint":"fp_ollama","choices":`;
    this.#includeUsage = idn.includeUsage;
    this.#wholeHead = `{"id":"${idn.id}","object":"chat.completion","created":${idn.created},"model":${idn.modelJson},"system_fingerprint":"fp_ollama","choices":`;
  }

  chunk(text: string, index: number): string {
    const delta = index === 0 ? `{"role":"assistant","content":"${text}"}` : `{"content":"${text}"}`;
    return `data: ${this.#head}[{"index":0,"delta":${delta},"finish_reason":null}]}\n\n`;
  }

  end(r: GenerationResult): string {
    let out = `data: ${this.#head}[{"index":0,"delta":{},"finish_reason":"${r.doneReason}"}]}\n\n`;
    if (this.#includeUsage) out += `data: ${this.#head}[],"usage":${usageJson(r)}}\n\n`;
    return `${out}data: [DONE]\n\n`;
  }

  whole(text: string, r: GenerationResult): string {
    return `${this.#wholeHead}[{"index":0,"message":{"role":"assistant","content":"${text}"},"finish_reason":"${r.doneReason}"}],"usage":${usageJson(r)}}\n`;
  }

  streamError(message: string): string {
    return `data: ${openAIErrorBody(500, message)}\n\n`;
  }
}

/** `/v1/completions`. */
export class OpenAICompletionFramer implements Framer {
  readonly streamType = SSE_TYPE;
  readonly wholeType = "application/json";
  readonly #head: string;
  readonly #tail: string;
  readonly #includeUsage: boolean;

  constructor(idn: OpenAIFrameIdentity) {
    this.#head = `{"id":"${idn.id}","object":"text_completion","created":${idn.created},"choices":`;
    this.#tail = `,"model":${idn.modelJson},"system_fingerprint":"fp_ollama"`;
    this.#includeUsage = idn.includeUsage;
  }

  chunk(text: string): string {
    return `data: ${this.#head}[{"text":"${text}","index":0,"finish_reason":null}]${this.#tail}}\n\n`;
  }

  end(r: GenerationResult): string {
    let out = `data: ${this.#head}[{"text":"","index":0,"finish_reason":"${r.doneReason}"}]${this.#tail}}\n\n`;
    if (this.#includeUsage) out += `data: ${this.#head}[]${this.#tail},"usage":${usageJson(r)}}\n\n`;
    return `${out}data: [DONE]\n\n`;
  }

  whole(text: string, r: GenerationResult): string {
    return `${this.#head}[{"text":"${text}","index":0,"finish_reason":"${r.doneReason}"}]${this.#tail},"usage":${usageJson(r)}}\n`;
  }

  streamError(message: string): string {
    return `data: ${openAIErrorBody(500, message)}\n\n`;
  }
}
