/**
 * The model residency policy: what becomes of a client's `keep_alive` when the variant sets none
 * (a variant's keep_alive always replaces the client's). Ollama unloads a model after a request
 * whose keep_alive is 0 and keeps it forever after a negative one, so a client could unload the
 * production model from a node, or pin a model there; only operators unload (through a switch).
 * `Settings.client_keep_alive`:
 * - `ignore` (the default): dropped; the node's own default applies.
 * - `clamp`: kept within {@link CLAMP_MIN_S}..{@link CLAMP_MAX_S}: shorter (0 included) becomes the
 *   minimum, longer or negative (forever) the maximum; one Ollama would not read is dropped.
 * - `pass`: forwarded as sent.
 */
import { parseGoDuration } from "../../duration.ts";

/** The policies, as `Settings.client_keep_alive` names them. */
export const ClientKeepAlive = {
  Ignore: "ignore",
  Clamp: "clamp",
  Pass: "pass",
} as const;
export type ClientKeepAlive = (typeof ClientKeepAlive)[keyof typeof ClientKeepAlive];

/** Shortest keep_alive `clamp` forwards, in seconds: Ollama's default (5m). */
const CLAMP_MIN_S = 300;
/** Longest keep_alive `clamp` forwards, in seconds (30m). */
const CLAMP_MAX_S = 1800;

/** The policy a snapshot's setting names; "" (unset) and anything unknown read as `ignore`. */
export function clientKeepAlivePolicy(setting: string): ClientKeepAlive {
  return setting === ClientKeepAlive.Clamp || setting === ClientKeepAlive.Pass ? setting : ClientKeepAlive.Ignore;
}

/** Seconds of a keep_alive as Ollama reads it (a number of seconds or Go duration text), or undefined when it reads none. */
function keepAliveSeconds(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value !== "string") return undefined;
  try {
    return parseGoDuration(value) / 1000;
  } catch {
    return undefined;
  }
}

/** The keep_alive to forward for a client's `value` (undefined: none sent) under `policy`; undefined forwards none. */
export function clientKeepAliveValue(policy: ClientKeepAlive, value: unknown): unknown {
  if (value === undefined || policy === ClientKeepAlive.Ignore) return undefined;
  if (policy === ClientKeepAlive.Pass) return value;
  const seconds = keepAliveSeconds(value);
  if (seconds === undefined) return undefined;
  if (seconds < 0 || seconds > CLAMP_MAX_S) return CLAMP_MAX_S;
  return seconds < CLAMP_MIN_S ? CLAMP_MIN_S : value;
}
