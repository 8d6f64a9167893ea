/** Small HTTP helpers for the simulator tests (global fetch; no mocks). */

/** A finished answer. */
export interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  headers: Headers;
}

/** POSTs `body` (JSON-encoded unless a string) and reads the whole answer. */
export async function post(url: string, body: unknown, signal?: AbortSignal): Promise<Answer> {
  const res = await fetch(url, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), signal });
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text(), headers: res.headers };
}

/** GETs `url` (or another method) and reads the whole answer. */
export async function get(url: string, method = "GET"): Promise<Answer> {
  const res = await fetch(url, { method });
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text(), headers: res.headers };
}

/** NDJSON lines, parsed; asserts every line ends with a newline. */
export function ndjson(text: string): Record<string, any>[] {
  if (!text.endsWith("\n")) throw new Error(`NDJSON does not end with a newline: ${JSON.stringify(text.slice(-40))}`);
  return text
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
}

/** The `data:` payloads of an SSE body, in order; asserts the `data: …\n\n` framing. */
export function sseData(text: string): string[] {
  if (!text.endsWith("\n\n")) throw new Error("SSE does not end with a blank line");
  return text
    .slice(0, -2)
    .split("\n\n")
    .map((frame) => {
      if (!frame.startsWith("data: ")) throw new Error(`bad SSE frame ${JSON.stringify(frame)}`);
      return frame.slice(6);
    });
}
