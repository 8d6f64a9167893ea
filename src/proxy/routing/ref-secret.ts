/**
 * The proxy's key for signing `x-turnout-ref`: the `refSecret` option, else env
 * `TURNOUT_REF_SECRET`, else `<dataDir>/ref-secret` (32 random bytes, hex, written with mode 0600
 * when absent, so an embedded `turnout up` keeps its key across restarts), else a random key for
 * this process only (a warning says so). The secret itself is never logged.
 */
import { randomBytes, type KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { refKey } from "../../assign/feedback-ref.ts";
import type { Logger } from "../../log.ts";

/** File name of the generated secret in the data dir. */
export const REF_SECRET_FILE = "ref-secret";

/** The signing key (see the module doc); a secret shorter than 16 bytes throws. */
export function loadRefKey(option: string | undefined, dataDir: string | undefined, logger: Logger): KeyObject {
  const given = option ?? process.env.TURNOUT_REF_SECRET;
  if (given !== undefined && given !== "") return refKey(given);
  if (dataDir !== undefined) {
    const file = path.join(dataDir, REF_SECRET_FILE);
    try {
      return refKey(fs.readFileSync(file, "utf8").trim());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const secret = randomBytes(32).toString("hex");
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, secret + "\n", { mode: 0o600, flag: "wx" });
    logger.info({ file }, "generated the x-turnout-ref signing secret");
    return refKey(secret);
  }
  logger.warn("no TURNOUT_REF_SECRET and no data dir: x-turnout-ref is signed with a per-process key");
  return refKey(randomBytes(32));
}
