/**
 * The proxy's key for signing `x-turnout-ref`: the `refSecret` option, else env
 * `TURNOUT_REF_SECRET`, else `<dataDir>/ref-secret` (32 random bytes, hex, written with mode 0600
 * when absent, so an embedded `turnout up` keeps its key across restarts; the data dir is made
 * 0700, and a secret file group or others may read is refused), else a random key for this
 * process only (a warning says so). The secret itself is never logged. A burned secret (one
 * that was ever published, see BURNED_SECRETS) is never accepted: given explicitly it is refused,
 * found in the data dir it is replaced by a new one.
 */
import { createHash, randomBytes, type KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { refKey } from "../../assign/feedback-ref.ts";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { PRIVATE_FILE_MODE, makePrivateDir, readPrivateFile } from "../../private-files.ts";

/** File name of the generated secret in the data dir. */
export const REF_SECRET_FILE = "ref-secret";

/**
 * SHA-256 (hex) of secrets that were published and so sign nothing: anyone could forge refs with
 * them. The first was a data directory's generated secret that once sat in this repository.
 */
const BURNED_SECRETS: ReadonlySet<string> = new Set(["46ccdb77a532f7a41be3c49f31b109c48e844ed4d40598f4b52a3767d64916e0"]);

/** Whether `secret` is one of BURNED_SECRETS. */
function isBurnedRefSecret(secret: string): boolean {
  return BURNED_SECRETS.has(createHash("sha256").update(secret).digest("hex"));
}

/** Writes a new random secret at `file` (mode 0600; `replace` overwrites one there). */
function generateSecret(file: string, replace: boolean): string {
  const secret = randomBytes(32).toString("hex");
  fs.writeFileSync(file, `${secret}\n`, { mode: PRIVATE_FILE_MODE, flag: replace ? "w" : "wx" });
  return secret;
}

/**
 * The signing key (see the module doc); a secret shorter than 16 bytes, a burned one, or a secret
 * file others may read throws.
 */
export function loadRefKey(option: string | undefined, dataDir: string | undefined, logger: Logger): KeyObject {
  const given = option ?? process.env.TURNOUT_REF_SECRET;
  if (given !== undefined && given !== "") {
    if (isBurnedRefSecret(given)) {
      throw new TurnoutError(
        ErrorCode.InvalidArgument,
        "TURNOUT_REF_SECRET: this secret has been published and is burned; choose a new one (32 random bytes, e.g. `openssl rand -hex 32`)",
      );
    }
    return refKey(given);
  }
  if (dataDir !== undefined) {
    makePrivateDir(dataDir);
    const file = path.join(dataDir, REF_SECRET_FILE);
    const stored = readPrivateFile(file, "the x-turnout-ref secret")?.trim();
    if (stored !== undefined && !isBurnedRefSecret(stored)) return refKey(stored);
    if (stored !== undefined)
      logger.warn(
        { file },
        "the x-turnout-ref secret in the data dir is a published (burned) one; replaced it with a new one, so refs it signed are refused",
      );
    const secret = generateSecret(file, stored !== undefined);
    if (stored === undefined) logger.info({ file }, "generated the x-turnout-ref signing secret");
    return refKey(secret);
  }
  logger.warn("no TURNOUT_REF_SECRET and no data dir: x-turnout-ref is signed with a per-process key");
  return refKey(randomBytes(32));
}
