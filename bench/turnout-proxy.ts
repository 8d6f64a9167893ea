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
 *   is hashed to an arm through its layer and gets a signed x-turnout-ref;
 * - `--mode keys --key-token tk_…`: the routing proxy alone (as core) with client keys required
 *   and the token's key in the snapshot with every limit set (none reached by the bench), so
 *   every request is checked, counted in the key's windows and clamped. The state comes
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
import { clone, create, toBinary } from "@bufbuild/protobuf";
import { ExperimentServiceCreateRequestSchema } from "../gen/turnout/v1/experiment_pb.js";
import { KeySnapshotSchema, Role, RoutingSnapshotSchema } from "../gen/turnout/v1/routing_pb.js";
import { parseApiToken, secretSha256 } from "../src/auth/api-token.ts";
import { parseConfig } from "../src/control/config/load-config.ts";
import { createControlPlane } from "../src/control/control-plane.ts";
import { createLogger } from "../src/log.ts";
import { startProxy } from "../src/proxy/proxy.ts";
import { snapshotContentHash } from "../src/snapshot/content-hash.ts";
import { createMemoryTransport } from "../src/transport/memory/memory-transport.ts";
import { SNAPSHOT_KEY } from "../src/transport/types.ts";
import { announceReady } from "./children.ts";

const { values } = parseArgs({
  options: {
    upstream: { type: "string" },
    model: { type: "string", default: "bench-sim:1b" },
    mode: { type: "string", default: "proxy" },
    /** The client key of `--mode keys` (its hash goes into the snapshot). */
    "key-token": { type: "string" },
    /** Data directory of the file store; default a new temp dir, removed at exit. */
    "data-dir": { type: "string" },
  },
});
if (!values.upstream) throw new Error("turnout-proxy: --upstream URL is required");
if (!["core", "proxy", "up", "experiment", "keys"].includes(values.mode)) {
  throw new Error(`turnout-proxy: --mode must be "core", "proxy", "up", "experiment" or "keys", not "${values.mode}"`);
}
const experiment = values.mode === "experiment";
const keys = values.mode === "keys";
const key = keys ? parseApiToken(values["key-token"] ?? "") : undefined;
if (keys && key === undefined) throw new Error("turnout-proxy: --mode keys needs --key-token tk_<id>_<secret>");
const core = values.mode === "core" || experiment || keys;
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
let version = Number(controlPlane.currentSnapshot().version);
if (key !== undefined) {
  // The control plane's snapshot with the key added, as the next version.
  const snapshot = clone(RoutingSnapshotSchema, controlPlane.currentSnapshot());
  snapshot.parentVersion = snapshot.version;
  snapshot.version += 1n;
  snapshot.keys = [
    create(KeySnapshotSchema, {
      id: key.id,
      role: Role.CLIENT,
      secretSha256: secretSha256(key.secret),
      limits: { requestsPerMinute: 4e9, tokensPerMinute: 4e9, maxConcurrent: 1e6, maxTokensPerRequest: 1e6 },
    }),
  ];
  snapshot.contentHash = snapshotContentHash(snapshot);
  await store.put(SNAPSHOT_KEY, toBinary(RoutingSnapshotSchema, snapshot));
  version++;
}
const proxy = await startProxy(
  core
    ? {
        store,
        port: 0,
        host: "127.0.0.1",
        logger,
        id: "bench",
        refSecret: "bench-ref-secret-0123456789",
        clientAuth: { requireClientKeys: keys },
      }
    : { store, bus, outcomes, dataDir: join(dir, "proxy"), port: 0, host: "127.0.0.1", logger, id: "bench" },
);
await proxy.waitForVersion(version, AbortSignal.timeout(10_000));

announceReady(proxy.url, async () => {
  await proxy.close();
  await controlPlane.close();
  await transport.close();
});
