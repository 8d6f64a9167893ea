/**
 * `turnout proxy --nats URL`: a stateless data-plane proxy on NATS. Run as many as you like; each
 * watches the snapshot key, ACKs or NACKs it, heartbeats, and publishes its outcomes.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { createLogger } from "../log.ts";
import { startProxy } from "../proxy/proxy.ts";
import { ErrorCode, TurnoutError } from "../errors.ts";
import { defaultId, openTransport, portFlag } from "./flags.ts";
import { NATS_FLAGS, NATS_FLAGS_USAGE, natsCredentials } from "./nats-flags.ts";
import { redactNatsUrl } from "../transport/nats/nats-url.ts";
import { checkExposure } from "./exposure-check.ts";
import { TRAFFIC_FLAGS, clientAuthFromFlags, tlsFromFlags } from "./listen-flags.ts";

export const PROXY_USAGE = `turnout proxy --nats URL [--port 8080] [--host 127.0.0.1] [--id ID] [--data-dir DIR]
              [--tls-cert FILE --tls-key FILE] [--require-client-keys | --allow-anonymous-traffic]
              [--feedback-replay-keys N]
  A data-plane proxy on NATS: Ollama, OpenAI and Connect chat traffic on --port (plus /health and
  /metrics). Keeps its last good snapshot in --data-dir (default .turnout/proxy-<id>) and serves
  from it when started while NATS is down. --id defaults to <hostname>-<port>.
${NATS_FLAGS_USAGE}  While the server refuses the credentials it serves from its disk copy and logs an error.
  --tls-cert/--tls-key serve TLS (HTTP/2 and HTTP/1.1 by ALPN; reloaded when the files change).
  Off loopback (--host) it needs --require-client-keys, or --allow-anonymous-traffic on purpose.
  --feedback-replay-keys: accepted feedback keys remembered to refuse replays (default 1000000,
  about 24 bytes each; see docs/experiments.md, "Feedback").
`;

/** The value of --feedback-replay-keys: a whole number from 1 to 100,000,000. */
function replayKeysFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100_000_000)
    throw new TurnoutError(
      ErrorCode.InvalidArgument,
      `--feedback-replay-keys: must be a whole number from 1 to 100000000, got ${JSON.stringify(value)}`,
    );
  return n;
}

/** Runs `turnout proxy`. */
export async function runProxyCommand(argv: string[]): Promise<{ close(): Promise<void> }> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nats: { type: "string" },
      ...NATS_FLAGS,
      port: { type: "string" },
      ...TRAFFIC_FLAGS,
      id: { type: "string" },
      "data-dir": { type: "string" },
      "feedback-replay-keys": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(PROXY_USAGE);
    return { close: async () => {} };
  }
  const nats = values.nats ?? process.env.NATS_URL;
  if (nats === undefined) throw new TurnoutError(ErrorCode.InvalidArgument, "--nats: a NATS URL is required (or NATS_URL)");
  const port = portFlag(values.port, "--port") ?? 8080;
  const host = values.host ?? "127.0.0.1";
  const tls = tlsFromFlags(values, "", undefined);
  const clientAuth = clientAuthFromFlags(values, undefined);
  checkExposure({ traffic: { host, ...clientAuth }, adminToken: false });
  const feedbackReplayKeys = replayKeysFlag(values["feedback-replay-keys"]);
  const id = values.id ?? defaultId(port);
  const logger = createLogger().child({ proxy: id });
  const credentials = natsCredentials(values, nats);
  const transport = await openTransport({
    nats,
    dataDir: "",
    name: `turnout-proxy-${id}`,
    logger,
    credentials,
    background: true,
  });
  try {
    const proxy = await startProxy({
      store: transport.store,
      bus: transport.bus,
      outcomes: transport.outcomes,
      port,
      host,
      logger,
      id,
      dataDir: resolve(values["data-dir"] ?? `.turnout/proxy-${id}`),
      tls,
      clientAuth,
      feedbackReplayKeys,
    });
    process.stderr.write(`turnout proxy ${id}: traffic ${proxy.url}  nats ${redactNatsUrl(nats)}\n`);
    return {
      async close() {
        await proxy.close();
        await transport.close();
      },
    };
  } catch (err) {
    await transport.close();
    throw err;
  }
}
