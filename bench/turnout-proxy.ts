/**
 * Bench entry: Turnout as `turnout up` runs it — the embedded control plane and one proxy in one
 * process over a file KV store (in a temp dir) — in front of one simulated node. The state comes
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
import { parseConfig } from "../src/control/config/load-config.ts";
import { createControlPlane } from "../src/control/control-plane.ts";
import { createLogger } from "../src/log.ts";
import { startProxy } from "../src/proxy/proxy.ts";
import { createFileKvStore } from "../src/transport/memory/file-kv-store.ts";
import { announceReady } from "./children.ts";

const { values } = parseArgs({
  options: {
    upstream: { type: "string" },
    model: { type: "string", default: "bench-sim:1b" },
    /** Data directory of the file store; default a new temp dir, removed at exit. */
    "data-dir": { type: "string" },
  },
});
if (!values.upstream) throw new Error("turnout-proxy: --upstream URL is required");

const config = parseConfig(
  `nodes:
  - id: sim-1
    url: ${JSON.stringify(values.upstream)}
    models: [${JSON.stringify(values.model)}]
routes:
  - name: bench
    variants:
      - name: sim
        model: ${JSON.stringify(values.model)}
`,
  "bench",
);

const dir = values["data-dir"] ?? mkdtempSync(join(tmpdir(), "turnout-bench-store-"));
// Removed however the process ends (a hard exit after a slow close included); the bench passes a
// dir inside its own temp dir, so even a SIGKILLed child leaves nothing behind.
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
// Logs at LOG_LEVEL (the bench sets "warn" unless told otherwise).
const logger = createLogger();
const store = createFileKvStore({ dir });
const controlPlane = await createControlPlane({ store, logger, bootstrap: config.state });
const proxy = await startProxy({ store, port: 0, host: "127.0.0.1", logger, id: "bench" });
await proxy.waitForVersion(Number(controlPlane.currentSnapshot().version), AbortSignal.timeout(10_000));

announceReady(proxy.url, async () => {
  await proxy.close();
  await controlPlane.close();
  await store.close();
});
