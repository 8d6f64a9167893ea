/**
 * Store keys to NATS KV keys and back. NATS keys are dot-separated tokens of `[-/=_A-Za-z0-9]`;
 * Turnout keys may hold anything (route names like `qwen3:32b`). Each dot-separated token that
 * is plain (`[-_A-Za-z0-9]+`) is kept as is, so the keys the control plane writes (`nodes.<id>`,
 * `routes.<base64url>`, `settings`, `snapshot.current`, `meta.route-since`) read the same in
 * `nats kv` tools; any other token (empty, or with other characters) becomes `=` followed by its
 * UTF-8 bytes in base64url. Plain tokens never contain `=`, so decoding is unambiguous.
 */

const PLAIN = /^[-_A-Za-z0-9]+$/;

/** Encodes one token. */
function encodeToken(token: string): string {
  return PLAIN.test(token) ? token : `=${Buffer.from(token, "utf8").toString("base64url")}`;
}

/** Decodes one token. */
function decodeToken(token: string): string {
  return token.startsWith("=") ? Buffer.from(token.slice(1), "base64url").toString("utf8") : token;
}

/** The NATS KV key of a store key. */
export function encodeKvKey(key: string): string {
  return key.split(".").map(encodeToken).join(".");
}

/** The store key of a NATS KV key. */
export function decodeKvKey(natsKey: string): string {
  return natsKey.split(".").map(decodeToken).join(".");
}

/**
 * The NATS filter that covers every key starting with `prefix`: the complete tokens of the prefix
 * followed by `>` (the caller still checks `startsWith`, since the last token may be partial).
 */
export function prefixFilter(prefix: string): string {
  const tokens = prefix.split(".");
  tokens.pop(); // the last token is partial (or empty when the prefix ends with ".")
  return tokens.length === 0 ? ">" : `${tokens.map(encodeToken).join(".")}.>`;
}
