/**
 * Files only their owner may read: data directories (mode 0700), the files Turnout writes in
 * them (0600), and secret files it reads, refused when group or others may access them (as ssh
 * refuses a private key others can read). Mode bits are POSIX: on Windows the checks are skipped.
 */
import * as fs from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { ErrorCode, TurnoutError } from "./errors.ts";

/** Mode of a data directory: owner only. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of a file in a data directory or holding a secret: owner read/write only. */
export const PRIVATE_FILE_MODE = 0o600;

const POSIX = process.platform !== "win32";

/** Whether `dir` is a directory shared with more than Turnout, which is never narrowed. */
function isShared(dir: string, st: fs.Stats): boolean {
  if ((st.mode & 0o1002) !== 0) return true; // sticky or world-writable, like /tmp
  const abs = path.resolve(dir);
  return abs === path.parse(abs).root || abs === homedir() || abs === process.cwd();
}

/**
 * Creates `dir` (and missing parents) with mode 0700. An existing `dir` of this user that group or
 * others may access (one made by an older version) is narrowed to 0700, unless it is plainly
 * shared: a directory of another user, a sticky or world-writable one (`/tmp`), the file system's
 * root, the home directory or the working directory are left as they are.
 */
export function makePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (!POSIX) return;
  const st = fs.statSync(dir);
  if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.() && !isShared(dir, st)) fs.chmodSync(dir, PRIVATE_DIR_MODE);
}

/** `0644`-style text of a mode's permission bits. */
function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

/**
 * The text of the secret file `file`, or undefined when there is none. Throws
 * `failed_precondition` when group or others may read, write or run it, naming `what` (the
 * setting or secret it holds) and the fix; other read errors are thrown as they are.
 */
export function readPrivateFile(file: string, what: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const mode = fs.fstatSync(fd).mode;
    if (POSIX && (mode & 0o077) !== 0)
      throw new TurnoutError(
        ErrorCode.FailedPrecondition,
        `${what}: ${file} may be read by group or others (mode ${octal(mode)}); make it private with \`chmod 600 ${file}\``,
      );
    return fs.readFileSync(fd, "utf8");
  } finally {
    fs.closeSync(fd);
  }
}
