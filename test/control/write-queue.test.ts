import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { createWriteQueue } from "../../src/control/publish/write-queue.ts";

const logger = createLogger({ level: "silent" });

/** A queue whose publish answers how many publishes ran so far. */
function queue() {
  let publishes = 0;
  const q = createWriteQueue({ publish: async () => ++publishes, logger });
  return { q, publishes: () => publishes };
}

test("writes run one at a time, in the order they were queued", async () => {
  const { q } = queue();
  const log: string[] = [];
  const write = (name: string) =>
    q.exclusive(async () => {
      log.push(`${name} start`);
      await Promise.resolve();
      log.push(`${name} end`);
      return name;
    });
  assert.deepEqual(await Promise.all([write("a"), write("b"), write("c")]), ["a", "b", "c"]);
  assert.deepEqual(log, ["a start", "a end", "b start", "b end", "c start", "c end"]);
});

test("a burst of writes that each ask to publish is published once, after the last has written", async () => {
  const { q, publishes } = queue();
  const written: string[] = [];
  const write = (name: string) =>
    q.exclusive(async () => {
      written.push(name);
      const version = await q.publish();
      return { name, version, writtenBefore: [...written] };
    });
  const results = await Promise.all([write("a"), write("b"), write("c")]);
  assert.equal(publishes(), 1);
  for (const r of results) assert.deepEqual([r.version, r.writtenBefore], [1, ["a", "b", "c"]], r.name);
  // A lone write later is published at once, on its own.
  assert.equal((await write("d")).version, 2);
});

test("a race lost before the write asked to publish is retried; one lost after it is the caller's", async () => {
  const { q } = queue();
  let attempts = 0;
  const result = await q.exclusive(async () => {
    if (++attempts < 3) throw new TurnoutError(ErrorCode.Aborted, "lost the compare-and-swap");
    return "written";
  });
  assert.deepEqual([result, attempts], ["written", 3]);
  let late = 0;
  await assert.rejects(
    q.exclusive(async () => {
      late++;
      await q.publish();
      throw new TurnoutError(ErrorCode.Aborted, "lost after publishing");
    }),
    /lost after publishing/,
  );
  assert.equal(late, 1);
});

test("close refuses new writes at once and waits for the queued ones and their publish", async () => {
  const { q, publishes } = queue();
  const queued = q.exclusive(async () => q.publish());
  const closed = q.close();
  await assert.rejects(
    q.exclusive(async () => "late"),
    (err: unknown) => err instanceof TurnoutError && err.code === ErrorCode.Unavailable,
  );
  await closed;
  assert.equal(publishes(), 1);
  assert.equal(await queued, 1);
});
