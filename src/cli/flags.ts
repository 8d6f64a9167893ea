/**
 * Command-line values shared by the `turnout` subcommands: ports, addresses, ids, the transport.
 */
import { hostname } from "node:os";
import { ErrorCode, TurnoutError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Transport } from "../transport/types.ts";
import { createMemoryTransport } from "../transport/memory/memory-transport.ts";
import { createNatsTransport } from "../transport/nats/nats-transport.ts";
import type { NatsCredentials } from "../transport/nats/nats-credentials.ts";

/** Splits "host:port" (or a bare port) into its parts. */
export function hostPort(value: string, flag: string): { host?: string; port: number } {
  const match = /^(?:(.*):)?(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new TurnoutError(ErrorCode.InvalidArgument, `${flag}: "${value}" is not a port or host:port`);
  return { host: match[1] || undefined, port };
}

/** The port of a `--port`-style flag, or undefined when it was not given. */
export function portFlag(value: string | undefined, flag: string): number | undefined {
  return value === undefined ? undefined : hostPort(value, flag).port;
}

/** A default process id: `<hostname>-<port>`, stable across restarts on the same port. */
export function defaultId(port: number): string {
  return `${hostname().replace(/[^A-Za-z0-9_-]/g, "-")}-${port}`;
}

/** Options of {@link openTransport}. */
export interface OpenTransportOptions {
  /** NATS URL(s), comma-separated (may carry `user:password@`); undefined means the embedded memory transport. */
  nats: string | undefined;
  /** Data directory of the memory transport. */
  dataDir: string;
  /** NATS client name. */
  name: string;
  logger: Logger;
  /** Resolve while NATS is unreachable and connect in the background (proxies). Default false. */
  background?: boolean;
  /** NATS credentials and TLS files (see nats-flags.ts). Default none. */
  credentials?: NatsCredentials;
}

/** Opens the transport: NATS when a URL is given, else the file-backed embedded one. */
export async function openTransport(options: OpenTransportOptions): Promise<Transport> {
  if (options.nats === undefined) return createMemoryTransport({ dir: options.dataDir });
  return createNatsTransport({
    servers: options.nats.split(",").map((s) => s.trim()),
    name: options.name,
    logger: options.logger,
    waitForFirstConnect: options.background ?? false,
    credentials: options.credentials,
  });
}
