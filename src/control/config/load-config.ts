/**
 * Loads a config file from disk (native format or the seed article's shape; see parse-config.ts).
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import type { TlsFiles } from "../../server/dual-server.ts";
import { parseConfig, type ConfigFile } from "./parse-config.ts";

export { parseConfig, type ConfigFile } from "./parse-config.ts";

/**
 * Reads and parses the config at `path`; a missing or unreadable file is `invalid_argument`.
 * Relative file paths in it (TLS files, `auth.admin_token_file`) are resolved against the
 * directory of `path`.
 */
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
  return withPathsFrom(dirname(resolve(path)), parseConfig(text, path));
}

function withPathsFrom(dir: string, config: ConfigFile): ConfigFile {
  const tls = (files: TlsFiles | undefined): TlsFiles | undefined =>
    files && {
      ...files,
      certFile: resolve(dir, files.certFile),
      keyFile: resolve(dir, files.keyFile),
      ...(files.clientCaFile !== undefined && { clientCaFile: resolve(dir, files.clientCaFile) }),
    };
  const listenTls = config.listen?.tls;
  const adminTokenFile = config.auth?.adminTokenFile;
  return {
    ...config,
    ...(listenTls !== undefined && {
      listen: {
        ...config.listen,
        tls: {
          ...(listenTls.traffic !== undefined && { traffic: tls(listenTls.traffic) }),
          ...(listenTls.admin !== undefined && { admin: tls(listenTls.admin) }),
        },
      },
    }),
    ...(adminTokenFile !== undefined && { auth: { ...config.auth, adminTokenFile: resolve(dir, adminTokenFile) } }),
  };
}
