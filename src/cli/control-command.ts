/**
 * `turnout control --nats URL`: a control plane on NATS. Any number may run side by side: every
 * write is a compare-and-swap on the KV revision.
 */
import { parseArgs } from "node:util";
import { createLogger } from "../log.ts";
import { loadConfigFile } from "../control/config/load-config.ts";
import { withAlertFlags } from "../control/config/alerts-config.ts";
import { ErrorCode, TurnoutError } from "../errors.ts";
import { defaultId, hostPort, openTransport, portFlag } from "./flags.ts";
import { NATS_FLAGS, NATS_FLAGS_USAGE, natsCredentials } from "./nats-flags.ts";
import { redactNatsUrl } from "../transport/nats/nats-url.ts";
import { checkExposure } from "./exposure-check.ts";
import { ADMIN_FLAGS, readAdminToken, tlsFromFlags } from "./listen-flags.ts";
import { startControlNode } from "./control-node.ts";

export const CONTROL_USAGE = `turnout control --nats URL [--admin-port 8081] [--admin-host 127.0.0.1] [--config FILE] [--id ID]
                [--admin-tls-cert FILE --admin-tls-key FILE [--admin-client-ca FILE]]
                [--alert-webhook URL]... [--alert-slack URL]...
  A control plane on NATS: admin API (Connect, gRPC, gRPC-web, reflection) on --admin-port,
  state in JetStream KV, snapshots published to proxies, fleet status and live metrics.
  --admin-host (or --host) binds it; off loopback it needs TURNOUT_ADMIN_TOKEN (or the config's
  auth.admin_token_file). --admin-tls-cert/--admin-tls-key serve TLS (reloaded when the files
  change), --admin-client-ca requires client certificates signed by that CA (mTLS). The config's
  listen.admin gives the same (flags win).
  --config bootstraps the state when NATS holds none yet. --id (default <hostname>-<admin port>)
  names its durable outcome consumer: keep it stable across restarts.
  --alert-webhook / --alert-slack POST alerts (rollback, node down/up, proxy NACK) as generic JSON
  / Slack messages, added to the config file's alerts.webhooks (read at every start).
${NATS_FLAGS_USAGE}  A server that refuses the credentials stops it with an error.
`;

/** Runs `turnout control`. */
export async function runControlCommand(argv: string[]): Promise<{ close(): Promise<void> }> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nats: { type: "string" },
      ...NATS_FLAGS,
      "admin-port": { type: "string" },
      host: { type: "string" },
      ...ADMIN_FLAGS,
      config: { type: "string", short: "c" },
      id: { type: "string" },
      "alert-webhook": { type: "string", multiple: true },
      "alert-slack": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(CONTROL_USAGE);
    return { close: async () => {} };
  }
  const nats = values.nats ?? process.env.NATS_URL;
  if (nats === undefined) throw new TurnoutError(ErrorCode.InvalidArgument, "--nats: a NATS URL is required (or NATS_URL)");
  const config = values.config ? await loadConfigFile(values.config) : undefined;
  const listen = config?.listen?.admin ? hostPort(config.listen.admin, "listen.admin") : undefined;
  const port = portFlag(values["admin-port"], "--admin-port") ?? listen?.port ?? 8081;
  const host = values["admin-host"] ?? values.host ?? listen?.host ?? "127.0.0.1";
  const tls = tlsFromFlags(values, "admin-", config?.listen?.tls?.admin, "admin-client-ca");
  const adminToken = readAdminToken(config?.auth);
  checkExposure({ admin: { host }, adminToken: adminToken !== undefined });
  const id = values.id ?? defaultId(port);
  const logger = createLogger().child({ control: id });
  const alerts = withAlertFlags(config?.alerts, values["alert-webhook"], values["alert-slack"]);
  const credentials = natsCredentials(values, nats);
  const transport = await openTransport({ nats, dataDir: "", name: `turnout-control-${id}`, logger, credentials });
  try {
    const node = await startControlNode({
      transport,
      logger,
      bootstrap: config?.state,
      port,
      host,
      id,
      alerts,
      tls,
      auth: { adminToken },
    });
    process.stderr.write(`turnout control ${id}: admin ${node.url}  nats ${redactNatsUrl(nats)}\n`);
    return {
      async close() {
        await node.close();
        await transport.close();
      },
    };
  } catch (err) {
    await transport.close();
    throw err;
  }
}
