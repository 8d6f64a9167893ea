/**
 * Ollama's native framing: NDJSON chunks of `/api/chat` and `/api/generate`, their final chunk
 * with `done_reason` and metrics, and the single object of `stream:false`.
 */
import { metricsJson, type Framer, type GenerationResult } from "./framer.ts";
import { isoNow, JSON_TYPE, NDJSON_TYPE } from "./http-io.ts";
import { tokenId } from "./text-generator.ts";

/** `/api/chat`: `{model, created_at, message{role, content}, done}`. */
export class NativeChatFramer implements Framer {
  readonly streamType = NDJSON_TYPE;
  readonly wholeType = JSON_TYPE;
  readonly #head: string;

  /** @param modelJson the model name as a JSON string literal */
  constructor(modelJson: string) {
    this.#head = `{"model":${modelJson},"created_at":"`;
  }

  chunk(text: string): string {
    return `${this.#head}${isoNow()}","message":{"role":"assistant","content":"${text}"},"done":false}\n`;
  }

  end(r: GenerationResult): string {
    return `${this.whole("", r)}\n`;
  }

  whole(text: string, r: GenerationResult): string {
    return `${this.#head}${isoNow()}","message":{"role":"assistant","content":"${text}"},"done":true,"done_reason":"${r.doneReason}"${metricsJson(r)}}`;
  }

  streamError(message: string): string {
    return `{"error":${JSON.stringify(message)}}\n`;
  }
}

/** `/api/generate`: `{model, created_at, response, done}`; the final chunk adds `context`. */
export class NativeGenerateFramer implements Framer {
  readonly streamType = NDJSON_TYPE;
  readonly wholeType = JSON_TYPE;
  readonly #head: string;
  readonly #seed: number;

  /**
   * @param modelJson the model name as a JSON string literal
   * @param seed the answer's seed, for the token ids of `context`
   */
  constructor(modelJson: string, seed: number) {
    this.#head = `{"model":${modelJson},"created_at":"`;
    this.#seed = seed;
  }

  chunk(text: string): string {
    return `${this.#head}${isoNow()}","response":"${text}","done":false}\n`;
  }

  end(r: GenerationResult): string {
    return `${this.whole("", r)}\n`;
  }

  whole(text: string, r: GenerationResult): string {
    const n = r.promptTokens + r.evalCount;
    let context = "";
    for (let i = 0; i < n; i++) context += (i === 0 ? "" : ",") + tokenId(this.#seed, i);
    return `${this.#head}${isoNow()}","response":"${text}","done":true,"done_reason":"${r.doneReason}","context":[${context}]${metricsJson(r)}}`;
  }

  streamError(message: string): string {
    return `{"error":${JSON.stringify(message)}}\n`;
  }
}

/** The answer to a load or unload request (empty prompt / no messages). */
export function loadAnswer(modelJson: string, kind: "chat" | "generate", reason: "load" | "unload"): string {
  const body = kind === "chat" ? `"message":{"role":"assistant","content":""}` : `"response":""`;
  return `{"model":${modelJson},"created_at":"${isoNow()}",${body},"done":true,"done_reason":"${reason}"}`;
}
