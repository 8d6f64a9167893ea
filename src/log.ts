/**
 * The one pino root logger. Components take `logger.child({ component })`. Never log prompts,
 * completions, credentials or untrusted objects at the top level. As a second line of defence,
 * fields that carry credentials are redacted wherever a log call puts them (see REDACTED_FIELDS).
 */
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level. Default: `LOG_LEVEL` from the environment, else "info" ("silent" under `node --test`). */
  level?: string;
  /** Where the JSON lines go. Default: stderr. */
  destination?: DestinationStream;
}

/** Request headers that carry credentials. */
const SECRET_HEADERS = ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"];
/** Field names that hold a credential, whatever object they are in. */
const SECRET_FIELDS = ["token", "adminToken", "apiKey", "password", "pass", "secret", "refSecret", "webhookUrl"];

/**
 * Paths pino replaces with "[redacted]": credential headers on their own, in `headers` and in
 * `req.headers`/`res.headers` (pino's request serializers); credential fields at the top and one
 * level down; webhook URLs (`webhooks[].url`, whose path is the credential of Slack-style hooks).
 */
const REDACTED_FIELDS: string[] = [
  ...SECRET_HEADERS.flatMap((h) => [`["${h}"]`, `*["${h}"]`, `*.headers["${h}"]`, `*.*.headers["${h}"]`]),
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]),
  "webhooks[*].url",
  "*.webhooks[*].url",
  "webhook.url",
  "*.webhook.url",
];

/** Creates the root logger, writing JSON lines to stderr. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? "silent" : "info");
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACTED_FIELDS, censor: "[redacted]" } },
    options.destination ?? pino.destination(2),
  );
}
