/**
 * Loads a config file from disk (native format or the seed article's shape; see parse-config.ts).
 */
import { readFile } from "node:fs/promises";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import { parseConfig, type ConfigFile } from "./parse-config.ts";

export { parseConfig, type ConfigFile } from "./parse-config.ts";

/** Reads and parses the config at `path`; a missing or unreadable file is `invalid_argument`. */
export async function loadConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    const why = (cause as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "cannot be read";
    throw new TurnoutError(ErrorCode.InvalidArgument, `config file ${path}: ${why}`, {
      cause,
      violations: [{ field: "config", message: `${path}: ${why}` }],
    });
  }
  return parseConfig(text, path);
}
