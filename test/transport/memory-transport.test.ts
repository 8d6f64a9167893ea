import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createMemoryTransport } from "../../src/transport/memory/memory-transport.ts";
import { SNAPSHOT_KEY } from "../../src/transport/types.ts";

test("the memory transport keeps store and outcomes under one data dir across a reopen", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-mt-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = createMemoryTransport({ dir, fsync: false });
  await first.store.put(SNAPSHOT_KEY, new Uint8Array([1, 2, 3]));
  await first.outcomes.append("req-1", new Uint8Array([9]));
  await first.close();
  assert.ok(fs.existsSync(path.join(dir, "store")) && fs.existsSync(path.join(dir, "outcomes")));

  const second = createMemoryTransport({ dir, fsync: false });
  t.after(() => second.close());
  assert.deepEqual([...((await second.store.get(SNAPSHOT_KEY))?.value ?? [])], [1, 2, 3]);
  const ac = new AbortController();
  for await (const entry of second.outcomes.consume("control", ac.signal)) {
    assert.deepEqual([...entry.data], [9]);
    break;
  }
  const messages = second.bus.subscribe("turnout.events.>", ac.signal);
  second.bus.publish("turnout.events.config", new Uint8Array([7]));
  for await (const m of messages) {
    assert.equal(m.subject, "turnout.events.config");
    break;
  }
});
