/**
 * Bench entry: Turnout in front of one simulated node, over the memory transport (file KV store,
 * in-process bus with fleet status, file outcome log; in a temp dir), in one of three modes:
 * - `--mode core`: the routing proxy alone (no status reports, no outcome log), the configuration
 *   the proxy's CPU target is stated for;
 * - `--mode proxy` (default): the proxy's own work, as `turnout proxy` does it — outcomes
 *   recorded, batched and appended to the log, status reported — with a control plane that
 *   compiles and publishes but does not consume outcomes (in distributed mode that happens in
 *   the control plane's process);
 * - `--mode up`: everything `turnout up` runs in its one process, the control plane's outcome
 *   consumer and live-metrics aggregation included;
 * - `--mode experiment`: the routing proxy alone (as core) with a running 50/50 experiment on the
 *   route (two arms on the same model), so every request with a user (the bench sends `user`)
 *   is hashed to an arm through its layer and gets a signed x-turnout-ref. The state comes
 * from a native config file's text that routes model `bench` to the simulator's model; the
 * control plane validates, compiles and publishes the snapshot, the proxy applies it, and the
 * entry reports its traffic URL over IPC. (The admin server is left out: it is idle in the bench.)
 *
 * `node bench/turnout-proxy.ts --upstream http://127.0.0.1:P [--model bench-sim:1b] [--data-dir DIR]`
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { ExperimentServiceCreateRequestSchema } from "../gen/turnout/v1/experiment_pb.js";
import { parseConfig } from "../src/control/config/load-config.ts";
import { createControlPlane } from "../src/control/control-plane.ts";
import { createLogger } from "../src/log.ts";
import { startProxy } from "../src/proxy/proxy.ts";
import { createMemoryTransport } from "../src/transport/memory/memory-transport.ts";
import { announceReady } from "./children.ts";

const { values } = parseArgs({
  options: {
    upstream: { type: "string" },
    model: { type: "string", default: "bench-sim:1b" },
    mode: { type: "string", default: "proxy" },
    /** Data directory of the file store; default a new temp dir, removed at exit. */
    "data-dir": { type: "string" },
  },
});
if (!values.upstream) throw new Error("turnout-proxy: --upstream URL is required");
if (values.mode !== "core" && values.mode !== "proxy" && values.mode !== "up" && values.mode !== "experiment") {
  throw new Error(`turnout-proxy: --mode must be "core", "proxy", "up" or "experiment", not "${values.mode}"`);
}
const experiment = values.mode === "experiment";
const core = values.mode === "core" || experiment;
const consumeOutcomes = values.mode === "up";

const config = parseConfig(
  `nodes:
  - id: sim-1
    url: ${JSON.stringify(values.upstream)}
    models: [${JSON.stringify(values.model)}]
routes:
  - name: bench
    default: sim
    variants:
      - name: sim
        model: ${JSON.stringify(values.model)}
${experiment ? `      - name: sim-b\n        model: ${JSON.stringify(values.model)}\n` : ""}`,
  "bench",
);

const dir = values["data-dir"] ?? mkdtempSync(join(tmpdir(), "turnout-bench-store-"));
// Removed however the process ends (a hard exit after a slow close included); the bench passes a
// dir inside its own temp dir, so even a SIGKILLed child leaves nothing behind.
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
// Logs at LOG_LEVEL (the bench sets "warn" unless told otherwise).
const logger = createLogger();
const transport = createMemoryTransport({ dir });
const { store, bus, outcomes } = transport;
const controlPlane = await createControlPlane({
  store,
  bus: core ? undefined : bus,
  outcomes: consumeOutcomes ? outcomes : undefined,
  consumerName: "control-bench",
  logger,
  bootstrap: config.state,
});
if (experiment) {
  await controlPlane.experiments.create(
    create(ExperimentServiceCreateRequestSchema, {
      id: "bench-ab",
      name: "bench",
      route: "bench",
      duration: "7d",
      arms: [
        { name: "sim", weight: 50 },
        { name: "sim-b", weight: 50 },
      ],
    }),
  );
  await controlPlane.experiments.start("bench-ab");
}
const proxy = await startProxy(
  core
    ? { store, port: 0, host: "127.0.0.1", logger, id: "bench", refSecret: "bench-ref-secret-0123456789" }
    : { store, bus, outcomes, dataDir: join(dir, "proxy"), port: 0, host: "127.0.0.1", logger, id: "bench" },
);
await proxy.waitForVersion(Number(controlPlane.currentSnapshot().version), AbortSignal.timeout(10_000));

announceReady(proxy.url, async () => {
  await proxy.close();
  await controlPlane.close();
  await transport.close();
});
