import { after, before } from "node:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createLogger } from "../../src/log.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import { connectNats, type NatsLink } from "../../src/transport/nats/nats-connection.ts";
import { createNatsKvStore } from "../../src/transport/nats/nats-kv-store.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { runKvStoreSuite } from "./kv-store-suite.ts";

runKvStoreSuite("file store", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-kv-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return createFileKvStore({ dir, fsync: false });
});

let server: NatsServer;
let link: NatsLink;
let buckets = 0;
before(async () => {
  server = await startNatsServer();
  link = await connectNats({ servers: server.url, name: "kv-suite", logger: createLogger() });
});
after(async () => {
  await link.close();
  await server.stop();
});

runKvStoreSuite("NATS KV store", async () => createNatsKvStore({ link, bucket: `suite_${++buckets}`, logger: createLogger() }));
