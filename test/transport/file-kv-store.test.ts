import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
// Behaviour shared with the NATS store (CAS, keys, watch) is in kv-store-suite.ts, run against
// both by kv-store-behaviour.test.ts; this file holds what only a directory on disk has.
import type { TurnoutError } from "../../src/errors.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-kv-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a new store over the same directory sees the same entries and revisions, and continues counting", async (t) => {
  const dir = tempDir(t);
  const first = createFileKvStore({ dir });
  await first.put("a", bytes("A"));
  const rb = await first.put("b", bytes("B"));
  await first.put("c", bytes("C"));
  await first.delete("c"); // the last write is a delete: its revision must not be reused
  await first.close();
  await assert.rejects(first.put("a", bytes("late")), (e: unknown) => (e as TurnoutError).code === "unavailable");

  const second = createFileKvStore({ dir });
  t.after(() => second.close());
  assert.deepEqual(
    (await second.list("")).map((e) => [e.key, text(e.value), e.revision]),
    [
      ["a", "A", 1],
      ["b", "B", rb],
    ],
  );
  assert.equal(await second.put("d", bytes("D")), 5);
  await second.put("b", bytes("B2"), rb);
});

test("temp files left by an interrupted write are ignored and removed", async (t) => {
  const dir = tempDir(t);
  const store = createFileKvStore({ dir });
  await store.put("a", bytes("A"));
  await store.close();
  const stray = path.join(dir, "entries", "deadbeef.json.tmp-1-0");
  fs.writeFileSync(stray, "{ half a wri");
  const reopened = createFileKvStore({ dir });
  t.after(() => reopened.close());
  assert.equal(fs.existsSync(stray), false);
  assert.deepEqual(
    (await reopened.list("")).map((e) => e.key),
    ["a"],
  );
});
