/**
 * The chaos suite's traffic: `concurrency` clients in a closed loop, each sending one request at a
 * time to the proxies in turn, mixing Ollama and OpenAI chats, streamed and not. Every request is
 * recorded: when it started and ended, the proxy, its request id, the status, and whether its
 * answer ended properly — a stream with its terminal chunk (`done: true`, or `[DONE]` after the
 * finish chunk) or an in-band error line, a whole JSON body otherwise. An answer cut off without
 * either is "unterminated".
 */
import { Agent, request } from "undici";
import { ROUTE } from "./topology.ts";

export const Kind = { NativeStream: "native-stream", Native: "native", OpenAiStream: "openai-stream", OpenAi: "openai" } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];
const KINDS: readonly Kind[] = [Kind.NativeStream, Kind.Native, Kind.OpenAiStream, Kind.OpenAi];

/** One request as the client saw it. */
export interface RequestRecord {
  kind: Kind;
  proxy: string;
  start: number;
  end: number;
  /** HTTP status; 0 when no answer head arrived. */
  status: number;
  /** x-request-id of the answer; "" without one. */
  requestId: string;
  /** A 200 whose answer ended with its terminal chunk or body (no in-band error). */
  completed: boolean;
  /** The answer started (a head arrived) but ended with neither a terminal chunk nor an error line. */
  unterminated: boolean;
  /** Transport error, when there was one. */
  error: string;
}

/** Where requests go: the proxies by name and URL. */
export interface TrafficTarget {
  name: string;
  url: string;
}

function body(kind: Kind, user: string): string {
  const messages = [{ role: "user", content: "Why is the sky blue?" }];
  if (kind === Kind.NativeStream || kind === Kind.Native) {
    return JSON.stringify({ model: ROUTE, stream: kind === Kind.NativeStream, messages, options: { num_predict: 16 } });
  }
  return JSON.stringify({ model: ROUTE, stream: kind === Kind.OpenAiStream, user, messages, max_tokens: 16 });
}

/** How the answer `text` of a `kind` request ended: "done", "error" or "cut". */
function ending(kind: Kind, text: string): "done" | "error" | "cut" {
  if (kind === Kind.Native || kind === Kind.OpenAi) {
    try {
      const json = JSON.parse(text) as { error?: unknown };
      return json.error === undefined ? "done" : "error";
    } catch {
      return "cut";
    }
  }
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const last = lines.at(-1) ?? "";
  if (kind === Kind.OpenAiStream) {
    if (last === "data: [DONE]") return "done";
    return lines.some((l) => l.startsWith("data: {") && l.includes('"error"')) ? "error" : "cut";
  }
  try {
    const json = JSON.parse(last) as { done?: boolean; error?: unknown };
    if (json.error !== undefined) return "error";
    return json.done === true ? "done" : "cut";
  } catch {
    return "cut";
  }
}

/** Sends one request and records it. */
async function send(agent: Agent, target: TrafficTarget, kind: Kind, user: string): Promise<RequestRecord> {
  const path = kind === Kind.NativeStream || kind === Kind.Native ? "/api/chat" : "/v1/chat/completions";
  const record: RequestRecord = {
    kind,
    proxy: target.name,
    start: performance.now(),
    end: 0,
    status: 0,
    requestId: "",
    completed: false,
    unterminated: false,
    error: "",
  };
  try {
    const res = await request(`${target.url}${path}`, {
      method: "POST",
      dispatcher: agent,
      headers: { "content-type": "application/json", "x-turnout-user": user },
      body: body(kind, user),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    record.status = res.statusCode;
    record.requestId = String(res.headers["x-request-id"] ?? "");
    let text = "";
    try {
      text = await res.body.text();
    } catch (err) {
      record.error = (err as Error).message;
      record.unterminated = true;
      return record;
    }
    const end = ending(kind, text);
    record.unterminated = res.statusCode === 200 && end === "cut";
    record.completed = res.statusCode === 200 && end === "done";
  } catch (err) {
    record.error = (err as { code?: string }).code ?? (err as Error).message;
  } finally {
    record.end = performance.now();
  }
  return record;
}

/** Running traffic: stop it to get every record. */
export interface Traffic {
  /** Records so far (completed requests only). */
  readonly records: RequestRecord[];
  /** Stops sending and resolves once every request in flight has ended. */
  stop(): Promise<RequestRecord[]>;
}

/** Starts `concurrency` clients sending to `targets` in turn. */
export function startTraffic(targets: readonly TrafficTarget[], concurrency: number): Traffic {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const records: RequestRecord[] = [];
  let stopped = false;
  let next = 0;
  const worker = async (w: number) => {
    for (let i = 0; !stopped; i++) {
      const n = next++;
      const record = await send(agent, targets[n % targets.length], KINDS[(n >> 2) % KINDS.length], `user-${w}-${i % 7}`);
      records.push(record);
      // A refused connection (a killed proxy) answers at once: pace those so the loop does not spin.
      if (record.status === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  return {
    records,
    async stop() {
      stopped = true;
      await Promise.all(workers);
      await agent.close();
      return records;
    },
  };
}
