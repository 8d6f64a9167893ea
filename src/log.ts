/**
 * The one pino root logger. Components take `logger.child({ component })`. Never log prompts,
 * completions, credentials or untrusted objects at the top level.
 */
import { pino, type Logger } from "pino";

export type { Logger };

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level. Default: `LOG_LEVEL` from the environment, else "info" ("silent" under `node --test`). */
  level?: string;
}

/** Creates the root logger, writing JSON lines to stderr. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? "silent" : "info");
  return pino({ level, base: { pid: process.pid } }, pino.destination(2));
}
