/**
 * `turnout control --nats URL`: a control plane on NATS. Any number may run side by side: every
 * write is a compare-and-swap on the KV revision.
 */
import { parseArgs } from "node:util";
import { createLogger } from "../log.ts";
import { loadConfigFile } from "../control/config/load-config.ts";
import { withAlertFlags } from "../control/config/alerts-config.ts";
import { ErrorCode, TurnoutError } from "../errors.ts";
import { defaultId, openTransport, portFlag } from "./flags.ts";
import { startControlNode } from "./control-node.ts";

export const CONTROL_USAGE = `turnout control --nats URL [--admin-port 8081] [--host 127.0.0.1] [--config FILE] [--id ID]
                [--alert-webhook URL]... [--alert-slack URL]...
  A control plane on NATS: admin API (Connect, gRPC, gRPC-web, reflection) on --admin-port,
  state in JetStream KV, snapshots published to proxies, fleet status and live metrics.
  --config bootstraps the state when NATS holds none yet. --id (default <hostname>-<admin port>)
  names its durable outcome consumer: keep it stable across restarts.
  --alert-webhook / --alert-slack POST alerts (rollback, node down/up, proxy NACK) as generic JSON
  / Slack messages, added to the config file's alerts.webhooks (read at every start).
`;

/** Runs `turnout control`. */
export async function runControlCommand(argv: string[]): Promise<{ close(): Promise<void> }> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nats: { type: "string" },
      "admin-port": { type: "string" },
      host: { type: "string" },
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
  const port = portFlag(values["admin-port"], "--admin-port") ?? 8081;
  const id = values.id ?? defaultId(port);
  const logger = createLogger().child({ control: id });
  const config = values.config ? await loadConfigFile(values.config) : undefined;
  const alerts = withAlertFlags(config?.alerts, values["alert-webhook"], values["alert-slack"]);
  const transport = await openTransport({ nats, dataDir: "", name: `turnout-control-${id}`, logger });
  try {
    const node = await startControlNode({
      transport,
      logger,
      bootstrap: config?.state,
      port,
      host: values.host ?? "127.0.0.1",
      id,
      alerts,
      auth: { adminToken: process.env.TURNOUT_ADMIN_TOKEN },
    });
    process.stderr.write(`turnout control ${id}: admin ${node.url}  nats ${nats}\n`);
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
