/**
 * A control plane with its admin server, over any transport: what `turnout control` runs, and the
 * control half of `turnout up`.
 */
import type { Logger } from "../log.ts";
import type { Transport } from "../transport/types.ts";
import type { DesiredState } from "../control/state/desired-state.ts";
import { createControlPlane } from "../control/control-plane.ts";
import { startAdminServer, type AdminServerOptions } from "../control/admin/admin-server.ts";
import { createAlerts } from "../control/alerts/alerts.ts";
import type { AlertsConfig } from "../control/config/alerts-config.ts";
import type { TlsFiles } from "../server/dual-server.ts";

/** Options of {@link startControlNode}. */
export interface ControlNodeOptions {
  transport: Transport;
  logger: Logger;
  /** State to write when the store holds none yet. */
  bootstrap?: DesiredState;
  /** Admin port (0 picks one). */
  port: number;
  /** Admin bind address. */
  host: string;
  /** Control-plane id: its durable outcome consumer is `control-<id>`, so keep it stable. */
  id: string;
  /** Alert webhooks (config file and CLI flags). Default: none (no alerts). */
  alerts?: AlertsConfig;
  /** TLS of the admin port (see `AdminServerOptions.tls`). Default: none (cleartext). */
  tls?: TlsFiles;
  /** Admin authentication, passed to the admin server (see `AdminServerOptions.auth`). Default: none. */
  auth?: AdminServerOptions["auth"];
}

/** A running control plane and admin server. */
export interface ControlNode {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the alerts stage (bus events → webhooks), the control plane (validate → store → compile
 * → publish; fleet; metrics) and its admin server; closes them in reverse.
 */
export async function startControlNode(options: ControlNodeOptions): Promise<ControlNode> {
  const { transport, logger } = options;
  // Alerts: NACKs, node health and rollout events from the bus in, webhook POSTs out. Started
  // first so a NACK of the control plane's first snapshot is not missed.
  const alerts = createAlerts({
    bus: transport.bus,
    webhooks: options.alerts?.webhooks ?? [],
    nodeWindowMs: options.alerts?.nodeWindowMs,
    logger,
  });
  const controlPlane = await createControlPlane({
    store: transport.store,
    bus: transport.bus,
    outcomes: transport.outcomes,
    consumerName: `control-${options.id}`,
    bootstrap: options.bootstrap,
    logger,
  }).catch(async (err: unknown) => {
    await alerts.close(0);
    throw err;
  });
  try {
    const admin = await startAdminServer({
      port: options.port,
      host: options.host,
      controlPlane,
      logger,
      extraMetrics: alerts.prometheusText,
      tls: options.tls,
      auth: options.auth,
    });
    return {
      url: admin.url,
      async close() {
        await admin.close();
        await controlPlane.close();
        await alerts.close();
      },
    };
  } catch (err) {
    await controlPlane.close();
    await alerts.close(0);
    throw err;
  }
}
