/**
 * `turnout up`: the embedded default. One process runs the control plane and one proxy over a
 * file-backed store in a data directory; no NATS needed. With `--nats URL` both run on NATS.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { createLogger } from "../log.ts";
import { loadConfigFile, parseConfig } from "../control/config/load-config.ts";
import { withAlertFlags } from "../control/config/alerts-config.ts";
import { startProxy } from "../proxy/proxy.ts";
import { hostPort, openTransport, portFlag } from "./flags.ts";
import { startControlNode } from "./control-node.ts";
import { findLocalOllama, localOllamaConfig, simulatedConfig } from "./demo-config.ts";
import { resumeDemoFleet, startDemoFleet } from "./demo-fleet.ts";

/** Runs `turnout up` with command-line arguments; answers a handle that shuts it all down. */
export async function runUpCommand(argv: string[]): Promise<{ close(): Promise<void> }> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string", short: "c" },
      port: { type: "string" },
      "admin-port": { type: "string" },
      host: { type: "string" },
      "data-dir": { type: "string" },
      "sim-port": { type: "string" },
      ollama: { type: "string" },
      nats: { type: "string" },
      "alert-webhook": { type: "string", multiple: true },
      "alert-slack": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      "turnout up [--config FILE] [--port 8080] [--admin-port 8081] [--host 127.0.0.1] [--data-dir .turnout] [--ollama http://127.0.0.1:11434] [--sim-port 11435] [--nats URL] [--alert-webhook URL]... [--alert-slack URL]...\n",
    );
    return { close: async () => {} };
  }
  const logger = createLogger();
  const log = logger.child({ component: "up" });
  const dataDir = resolve(values["data-dir"] ?? process.env.TURNOUT_DATA_DIR ?? ".turnout");
  const configPath = values.config ?? process.env.TURNOUT_CONFIG;

  // Transport: the store (desired state, published snapshot), the bus (proxy status, config
  // events) and the outcome log — in the data directory and in process, or on NATS.
  const nats = values.nats ?? process.env.NATS_URL;
  const transport = await openTransport({ nats, dataDir, name: "turnout-up", logger });
  const { store, bus, outcomes } = transport;
  const closers: (() => Promise<void>)[] = [() => transport.close()];
  const close = async () => {
    for (const fn of closers.reverse()) await fn().catch((err: unknown) => log.warn({ err }, "shutdown step failed"));
  };
  try {
    // Bootstrap: a config file, else a local Ollama, else simulated nodes — only applied when
    // the store holds no state yet (restarts keep admin changes).
    // Alerts are process configuration: the file's `alerts:` and the flags, at every start.
    let config = configPath ? await loadConfigFile(configPath) : undefined;
    const alerts = withAlertFlags(config?.alerts, values["alert-webhook"], values["alert-slack"]);
    const empty = (await store.list("")).length === 0;
    const noState = !config || (config.state.nodes.length === 0 && config.state.routes.length === 0);
    if (noState && empty) {
      const ollama = await findLocalOllama(values.ollama ?? "http://127.0.0.1:11434");
      if (ollama) {
        log.info({ url: ollama.url, models: ollama.models.length }, "using the local Ollama");
        config = parseConfig(localOllamaConfig(ollama), "local Ollama");
      } else {
        const fleet = await startDemoFleet(dataDir, portFlag(values["sim-port"], "--sim-port") ?? 11435);
        closers.push(() => fleet.close());
        const nodes = fleet.nodes.map((n) => ({ url: n.url, models: ["qwen3:32b", "qwen3:8b"] }));
        log.info({ nodes: nodes.map((n) => n.url) }, "no Ollama answered: started simulated nodes");
        config = parseConfig(simulatedConfig(nodes), "built-in demo");
      }
    } else if (!empty && !configPath) {
      // A restart of the built-in demo: its stored routes point at simulators of this process.
      const fleet = await resumeDemoFleet(dataDir);
      if (fleet !== undefined) {
        closers.push(() => fleet.close());
        log.info({ nodes: fleet.nodes.map((n) => n.url) }, "restarted the demo's simulated nodes");
      }
    }

    // Control plane + admin server: validates admin writes, CAS-stores them, compiles and
    // publishes snapshots; tracks the fleet; consumes outcomes (durable consumer
    // "control-embedded") into live metrics. Admin API on its own port. Alerts: bus events to
    // webhooks.
    const adminListen = config?.listen?.admin ? hostPort(config.listen.admin, "listen.admin") : undefined;
    const trafficListen = config?.listen?.traffic ? hostPort(config.listen.traffic, "listen.traffic") : undefined;
    const host = values.host ?? "127.0.0.1";
    const admin = await startControlNode({
      transport,
      logger,
      bootstrap: config?.state,
      port: portFlag(values["admin-port"], "--admin-port") ?? adminListen?.port ?? 8081,
      host: values.host ?? adminListen?.host ?? host,
      id: "embedded",
      alerts,
      auth: { adminToken: process.env.TURNOUT_ADMIN_TOKEN },
    });
    closers.push(() => admin.close());

    // Proxy: watches snapshots from the store, serves traffic in three dialects.
    const proxy = await startProxy({
      store,
      port: portFlag(values.port, "--port") ?? trafficListen?.port ?? 8080,
      host: values.host ?? trafficListen?.host ?? host,
      logger,
      id: "embedded",
      bus,
      dataDir: resolve(dataDir, "proxy"),
      outcomes,
    });
    closers.push(() => proxy.close());

    log.info({ traffic: proxy.url, admin: admin.url, dataDir }, "turnout is up");
    process.stderr.write(`turnout up: traffic ${proxy.url}  admin ${admin.url}  data ${dataDir}\n`);
    return { close };
  } catch (err) {
    await close();
    throw err;
  }
}
