/**
 * The config file's `listen:` block: where the traffic and admin ports bind, and their TLS. Each
 * listener is an address string, as before, or a mapping with an address and TLS files:
 *
 * ```yaml
 * listen:
 *   traffic: "0.0.0.0:8080"                     # "host:port" or a bare port
 *   admin:
 *     address: "10.0.0.2:8081"                  # optional; default 127.0.0.1:8081
 *     tls:
 *       cert_file: /etc/turnout/admin.crt       # PEM chain, leaf first
 *       key_file: /etc/turnout/admin.key
 *       client_ca_file: /etc/turnout/ops-ca.crt # admin only: clients need a certificate it signed
 * ```
 *
 * Relative file paths are resolved against the config file's directory when it is loaded.
 */
import type { TlsFiles } from "../../server/dual-server.ts";
import { type Problems, at, readMap, readString } from "./config-reader.ts";

/** The listen addresses and TLS files of a config file. */
export interface ListenConfig {
  /** Traffic address, "host:port" or a bare port. Default: the command's (127.0.0.1:8080). */
  traffic?: string;
  /** Admin address, "host:port" or a bare port. Default: the command's (127.0.0.1:8081). */
  admin?: string;
  /** TLS files per listener, when the file gives them. Default: none (cleartext). */
  tls?: { traffic?: TlsFiles; admin?: TlsFiles };
}

/** Whether `value` is a port or host:port (the form `--port`-style flags take too). */
function isAddress(value: string): boolean {
  const match = /^(?:(.*):)?(\d{1,5})$/.exec(value);
  return match !== null && Number(match[2]) <= 65535;
}

function readAddress(value: unknown, path: string, p: Problems): string | undefined {
  const address = readString(value, path, p);
  if (address === undefined || isAddress(address)) return address;
  p.add(path, `must be a port or host:port, got ${JSON.stringify(address)}`);
  return undefined;
}

function readFile(value: unknown, path: string, p: Problems): string | undefined {
  const file = readString(value, path, p);
  if (file !== undefined && file.trim() === "") p.add(path, "must be a file path, got an empty string");
  return file?.trim() || undefined;
}

function readTls(value: unknown, path: string, p: Problems, admin: boolean): TlsFiles | undefined {
  const keys = admin ? ["cert_file", "key_file", "client_ca_file"] : ["cert_file", "key_file"];
  const m = readMap(value, path, p, keys);
  if (m === undefined) return undefined;
  const certFile = readFile(m.cert_file, at(path, "cert_file"), p);
  const keyFile = readFile(m.key_file, at(path, "key_file"), p);
  const clientCaFile = admin ? readFile(m.client_ca_file, at(path, "client_ca_file"), p) : undefined;
  if (m.cert_file === undefined) p.add(at(path, "cert_file"), "is required with tls");
  if (m.key_file === undefined) p.add(at(path, "key_file"), "is required with tls");
  if (certFile === undefined || keyFile === undefined) return undefined;
  return { certFile, keyFile, ...(clientCaFile !== undefined && { clientCaFile }) };
}

/** One listener: an address string, or `{ address, tls }`. */
function readListener(value: unknown, path: string, p: Problems, admin: boolean): { address?: string; tls?: TlsFiles } {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) return { address: readAddress(value, path, p) };
  const m = readMap(value, path, p, ["address", "tls"]) ?? {};
  return { address: readAddress(m.address, at(path, "address"), p), tls: readTls(m.tls, at(path, "tls"), p, admin) };
}

/** Reads the `listen` block (undefined when absent); problems go to `p`. */
export function readListenConfig(value: unknown, p: Problems, path = "listen"): ListenConfig | undefined {
  const m = readMap(value, path, p, ["traffic", "admin"]);
  if (m === undefined) return undefined;
  const traffic = readListener(m.traffic, at(path, "traffic"), p, false);
  const admin = readListener(m.admin, at(path, "admin"), p, true);
  const tls = {
    ...(traffic.tls !== undefined && { traffic: traffic.tls }),
    ...(admin.tls !== undefined && { admin: admin.tls }),
  };
  return {
    traffic: traffic.address,
    admin: admin.address,
    ...(Object.keys(tls).length > 0 && { tls }),
  };
}
