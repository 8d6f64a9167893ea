/**
 * Parses a config file's text (native format or the seed article's shape) into the desired state
 * to bootstrap with. Every problem — YAML syntax, types, unknown keys, invalid values, references
 * that do not resolve — is reported with its path in ONE `invalid_argument` TurnoutError.
 */
import { parseDocument } from "yaml";
import { ErrorCode, TurnoutError, formatViolations, type FieldViolation } from "../../errors.ts";
import { checkDesiredState } from "../publish/compile.ts";
import type { DesiredState } from "../state/desired-state.ts";
import { normalizeNode, normalizeRoute } from "../admin/normalize.ts";
import { validateDesiredState } from "../admin/validate.ts";
import { readAlertsConfig } from "./alerts-config.ts";
import { readAuthConfig } from "./auth-config.ts";
import { Problems } from "./config-reader.ts";
import { nativeConfigPath, readNativeConfig, type ConfigFile } from "./native-config.ts";
import { isSeedConfig, readSeedConfig } from "./seed-config.ts";

export type { ConfigFile } from "./native-config.ts";

/**
 * The config in `text`; `sourceName` (a file name) prefixes the error message. Throws
 * `invalid_argument` listing every problem as `path: message`.
 */
export function parseConfig(text: string, sourceName: string): ConfigFile {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const violations = doc.errors.map((e) => ({
      field: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : "yaml",
      message: e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, ""),
    }));
    throw configError(sourceName, violations);
  }
  const whole: unknown = doc.toJS() ?? {};
  const p = new Problems();
  // `alerts:` and `auth:` are read the same way in both shapes; the rest is the desired state.
  const { root, alerts, auth } = splitProcessBlocks(whole, p);
  const seed = isSeedConfig(root);
  const config = seed ? readSeedConfig(root, p) : readNativeConfig(root, p);
  const { state } = config;
  const toPath = (field: string) =>
    seed ? field.replace(/^settings\.health_check\.(\w+?)(?:_ms)?$/, "health_check.$1") : nativeConfigPath(field, state);

  // The seed shape's objects are derived: once its own reading found problems, checking what was
  // derived from the bad values would only repeat them under paths the file does not have.
  if (seed && p.list.length > 0) throw configError(sourceName, sortByPath(p.list));
  // Each object on its own, then the whole (references, coverage) on the normalised state.
  const invalid = new Set<number>();
  for (const v of validateDesiredState(state)) {
    const field = toPath(v.field);
    const route = /^routes\[(\d+)\]/.exec(v.field);
    if (route) invalid.add(Number(route[1]));
    if (!p.covers(field)) p.add(field, v.message);
  }
  const normalised: DesiredState = {
    nodes: state.nodes.map(normalizeNode),
    routes: state.routes.map((r, i) => (invalid.has(i) ? r : normalizeRoute(r))),
    settings: state.settings,
  };
  for (const v of checkDesiredState(normalised)) {
    const field = toPath(v.field);
    const route = /^routes\[(\d+)\]\.(arms|default_variant)/.exec(v.field);
    if (route && invalid.has(Number(route[1]))) continue; // already reported on the route itself
    if (!p.covers(field)) p.add(field, v.message);
  }
  if (p.list.length > 0) throw configError(sourceName, sortByPath(p.list));
  return {
    state: normalised,
    listen: config.listen,
    ...(alerts !== undefined && { alerts }),
    ...(auth !== undefined && { auth }),
  };
}

/** Takes the process blocks (`alerts`, `auth`) off the top level and reads them. */
function splitProcessBlocks(whole: unknown, p: Problems): { root: unknown } & Pick<ConfigFile, "alerts" | "auth"> {
  if (typeof whole !== "object" || whole === null || Array.isArray(whole)) return { root: whole };
  const { alerts, auth, ...root } = whole as Record<string, unknown>;
  return { root, alerts: readAlertsConfig(alerts, p), auth: readAuthConfig(auth, p) };
}

/** Orders violations by path, indexes compared as numbers (file order for lists). */
function sortByPath(violations: FieldViolation[]): FieldViolation[] {
  const key = (field: string) => field.replace(/\[(\d+)\]/g, (_m, n: string) => `[${n.padStart(6, "0")}]`);
  return [...violations].sort((a, b) => (key(a.field) < key(b.field) ? -1 : key(a.field) > key(b.field) ? 1 : 0));
}

function configError(sourceName: string, violations: FieldViolation[]): TurnoutError {
  const message = `${sourceName}: ${violations.length === 1 ? "1 problem" : `${violations.length} problems`}: ${formatViolations(violations)}`;
  return new TurnoutError(ErrorCode.InvalidArgument, message, { violations });
}
