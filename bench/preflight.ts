/**
 * Preflight: one plain and one streaming chat through a target before it is measured, so a
 * target that answers wrongly is reported and left out instead of producing meaningless numbers.
 */
import { Client } from "undici";
import type { Target } from "./targets.ts";

/** Request bodies of the bench's two workloads for a given model name (and assignment `user`, when given). */
export function chatBody(model: string, stream: boolean, numPredict: number, user?: string): string {
  return JSON.stringify({
    model,
    messages: [{ role: "user", content: "Say hi." }],
    stream,
    options: { num_predict: numPredict },
    ...(user === undefined ? {} : { user }),
  });
}

/** Checks `target` answers both workloads; answers the problem, or undefined when it is fine. */
export async function preflight(target: Target, streamChunks: number): Promise<string | undefined> {
  // Its own client, closed at the end, so no idle connection stays open to the target.
  const client = new Client(target.url, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  const post = (body: string) =>
    client.request({
      path: "/api/chat",
      method: "POST",
      headers: { "content-type": "application/json", ...target.headers },
      body,
    });
  try {
    const plain = await post(chatBody(target.model, false, 8, target.user));
    const text = await plain.body.text();
    if (plain.statusCode !== 200) return `chat answered ${plain.statusCode}: ${text.slice(0, 200)}`;
    const json = JSON.parse(text) as { done?: boolean; message?: { content?: string }; model?: string };
    if (json.done !== true || typeof json.message?.content !== "string")
      return `chat answer is not an Ollama chat: ${text.slice(0, 200)}`;
    if (json.model !== target.model) return `chat answer names model ${json.model}, expected ${target.model}`;
    if (target.name.startsWith("turnout") && plain.headers["x-turnout-variant"] === undefined)
      return "answer has no x-turnout-variant header";
    if (target.user !== undefined && plain.headers["x-turnout-ref"] === undefined)
      return "answer has no x-turnout-ref header: the user is in no experiment";
    if (target.headers?.authorization !== undefined && plain.headers["x-ratelimit-limit-requests"] === undefined)
      return "answer has no x-ratelimit-limit-requests header: the key's limits were not applied";

    const streamed = await post(chatBody(target.model, true, streamChunks, target.user));
    const lines = (await streamed.body.text()).trimEnd().split("\n");
    if (streamed.statusCode !== 200) return `stream answered ${streamed.statusCode}`;
    const last = JSON.parse(lines.at(-1) ?? "{}") as { done?: boolean };
    if (last.done !== true) return `stream did not end with done:true (${lines.length} lines)`;
    if (lines.length !== streamChunks + 1) return `stream has ${lines.length} lines, expected ${streamChunks + 1}`;
    return undefined;
  } catch (err) {
    return `request failed: ${(err as Error).message}`;
  } finally {
    await client.close();
  }
}
