/**
 * The TLS material of one listener: a certificate, its key and optionally a CA for client
 * certificates, read from PEM files and checked together (a key that does not match its
 * certificate is refused), and watched so that a renewed certificate is served without a restart.
 * Files are polled by `fs.watchFile`, which follows paths rather than inodes: a file replaced by a
 * rename (certbot, cert-manager's symlink swap) is seen like one rewritten in place.
 */
import * as fs from "node:fs";
import * as tls from "node:tls";
import { ErrorCode, TurnoutError } from "../errors.ts";

/** PEM files of one TLS listener. */
export interface TlsFiles {
  /** PEM certificate chain, leaf first. */
  certFile: string;
  /** PEM private key of the certificate. */
  keyFile: string;
  /**
   * PEM CA bundle for client certificates: when set, a client must present a certificate signed
   * by one of these CAs or the handshake fails (mTLS). Default: none (no client certificate asked).
   */
  clientCaFile?: string;
  /** How often the files are checked for changes, in ms. Default 1000. */
  reloadIntervalMs?: number;
}

/** What a certificate reload did: `ok` with the new material, or the problem (the old certificate stays). */
export type TlsReload = { ok: true } | { ok: false; error: string };

function readPem(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : `cannot be read (${code ?? String(cause)})`;
    throw new TurnoutError(ErrorCode.InvalidArgument, `TLS ${what} ${file}: ${why}`, { cause });
  }
}

/**
 * Reads the files into secure-context options (cert, key, and the client CA as `ca`), checked
 * by building a context from them. Throws `invalid_argument` naming the file that is missing or
 * unreadable, or the pair that does not load (bad PEM, a key of another certificate).
 */
export function readTlsFiles(files: TlsFiles): tls.SecureContextOptions {
  const options: tls.SecureContextOptions = {
    cert: readPem(files.certFile, "certificate"),
    key: readPem(files.keyFile, "key"),
    ...(files.clientCaFile !== undefined && { ca: readPem(files.clientCaFile, "client CA") }),
  };
  try {
    tls.createSecureContext(options);
  } catch (cause) {
    const what = files.clientCaFile === undefined ? "" : ` and client CA ${files.clientCaFile}`;
    throw new TurnoutError(
      ErrorCode.InvalidArgument,
      `TLS certificate ${files.certFile} with key ${files.keyFile}${what} does not load: ${(cause as Error).message}`,
      { cause },
    );
  }
  return options;
}

/**
 * Watches the files of `files`; after any of them changes, reads them all again and, when they
 * load, hands the new options to `apply`. A half-written or mismatched set (the certificate
 * renewed before its key) is reported to `onReload` and retried on the next change, while the
 * old certificate keeps being served. Answers a function that stops watching.
 */
export function watchTlsFiles(
  files: TlsFiles,
  apply: (options: tls.SecureContextOptions) => void,
  onReload: (result: TlsReload) => void,
): () => void {
  const paths = [files.certFile, files.keyFile, ...(files.clientCaFile === undefined ? [] : [files.clientCaFile])];
  const interval = files.reloadIntervalMs ?? 1000;
  const reload = (curr: fs.Stats, prev: fs.Stats) => {
    if (curr.mtimeMs === prev.mtimeMs && curr.ino === prev.ino && curr.size === prev.size) return;
    let options: tls.SecureContextOptions;
    try {
      options = readTlsFiles(files);
    } catch (err) {
      onReload({ ok: false, error: (err as Error).message });
      return;
    }
    apply(options);
    onReload({ ok: true });
  };
  for (const path of new Set(paths)) fs.watchFile(path, { interval, persistent: false }, reload);
  return () => {
    for (const path of new Set(paths)) fs.unwatchFile(path, reload);
  };
}
