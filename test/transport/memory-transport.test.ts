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

/** Every directory and file under `dir` (itself included) with its permission bits. */
function modes(dir: string): Map<string, number> {
  const out = new Map<string, number>([[".", fs.statSync(dir).mode & 0o777]]);
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[])
    out.set(name, fs.statSync(path.join(dir, name)).mode & 0o777);
  return out;
}

test("the data dir and everything the transport writes in it are private: directories 0700, files 0600", async (t) => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-mt-"));
  t.after(() => fs.rmSync(parent, { recursive: true, force: true }));
  const saved = process.umask(0o022); // the common default, under which files would be 0644
  t.after(() => process.umask(saved));
  for (const dir of [path.join(parent, "new"), path.join(parent, "old")]) {
    if (dir.endsWith("old")) fs.mkdirSync(dir, { mode: 0o755 }); // made by an older version
    const transport = createMemoryTransport({ dir, fsync: false });
    await transport.store.put(SNAPSHOT_KEY, new Uint8Array([1]));
    await transport.outcomes.append("req-1", new Uint8Array([9]));
    const ac = new AbortController();
    for await (const entry of transport.outcomes.consume("control", ac.signal)) {
      await entry.ack();
      break;
    }
    await transport.close();
    const found = modes(dir);
    assert.ok(found.size >= 6, `store, outcomes and their files: ${[...found.keys()]}`);
    for (const [name, mode] of found) {
      const isDir = fs.statSync(path.join(dir, name)).isDirectory();
      assert.equal(mode.toString(8), (isDir ? 0o700 : 0o600).toString(8), `${path.basename(dir)}/${name}`);
    }
  }
});
