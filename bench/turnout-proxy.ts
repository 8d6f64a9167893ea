/**
 * Bench entry: Turnout's proxy in its own process, as `turnout up` would run it, in front of one
 * simulated node. It opens a file KV store in a temp dir, writes a snapshot that routes model
 * `bench` to the simulator's model, starts the proxy and reports its URL over IPC once the
 * snapshot is applied.
 *
 * `node bench/turnout-proxy.ts --upstream http://127.0.0.1:P --model bench-sim:1b`
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { RoutingSnapshotSchema } from "../gen/turnout/v1/routing_pb.js";
import { createLogger } from "../src/log.ts";
import { startProxy } from "../src/proxy/proxy.ts";
import { snapshotContentHash } from "../src/snapshot/content-hash.ts";
import { createFileKvStore } from "../src/transport/memory/file-kv-store.ts";
import { SNAPSHOT_KEY } from "../src/transport/types.ts";
import { announceReady } from "./children.ts";

/** The model name bench clients send to Turnout. */
export const BENCH_ROUTE = "bench";

const { values } = parseArgs({
  options: {
    upstream: { type: "string" },
    model: { type: "string", default: "bench-sim:1b" },
  },
});
if (!values.upstream) throw new Error("turnout-proxy: --upstream URL is required");

const dir = mkdtempSync(join(tmpdir(), "turnout-bench-"));
const store = createFileKvStore({ dir, fsync: false });
const snapshot = create(RoutingSnapshotSchema, {
  version: 1n,
  parentVersion: 0n,
  nodes: [{ id: "sim-1", baseUrl: values.upstream, models: [values.model] }],
  routes: [
    {
      name: BENCH_ROUTE,
      defaultVariant: "sim",
      variants: [{ name: "sim", model: values.model, nodes: ["sim-1"] }],
      seed: BENCH_ROUTE,
    },
  ],
  settings: { unitHeader: "x-turnout-user", connectTimeoutMs: 5000, firstByteTimeoutMs: 300_000, idleTimeoutMs: 60_000 },
});
snapshot.contentHash = snapshotContentHash(snapshot);
await store.put(SNAPSHOT_KEY, toBinary(RoutingSnapshotSchema, snapshot));

// Logs at LOG_LEVEL (the bench sets "warn" unless told otherwise).
const logger = createLogger();
const proxy = await startProxy({ store, port: 0, host: "127.0.0.1", logger, id: "bench" });
await proxy.waitForVersion(1, AbortSignal.timeout(10_000));

announceReady(proxy.url, async () => {
  await proxy.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});
