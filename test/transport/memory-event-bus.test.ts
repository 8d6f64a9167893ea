import { test } from "node:test";
import assert from "node:assert/strict";
import { TurnoutError } from "../../src/errors.ts";
import { createMemoryEventBus } from "../../src/transport/memory/event-bus.ts";
import { subjectMatches } from "../../src/transport/memory/subject-match.ts";
import type { BusMessage } from "../../src/transport/types.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function take(it: AsyncIterator<BusMessage>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(`${r.value.subject}=${text(r.value.data)}`);
  }
  return out;
}

test("subjects match NATS rules: * is one token, > one or more trailing tokens", () => {
  const cases: Array<[string, string, boolean]> = [
    ["a.b.c", "a.b.c", true],
    ["a.b.c", "a.b", false],
    ["a.b", "a.b.c", false],
    ["a.*.c", "a.b.c", true],
    ["a.*.c", "a.b.x.c", false],
    ["a.*", "a", false],
    ["*", "a", true],
    ["*", "a.b", false],
    ["a.>", "a.b", true],
    ["a.>", "a.b.c.d", true],
    ["a.>", "a", false],
    [">", "a.b.c", true],
    ["*.b.>", "x.b.y", true],
    ["*.b.>", "x.c.y", false],
    ["turnout.fleet.status.*", "turnout.fleet.status.proxy-1", true],
    ["turnout.fleet.status.*", "turnout.fleet.status", false],
  ];
  for (const [pattern, subject, expected] of cases)
    assert.equal(subjectMatches(pattern, subject), expected, `${pattern} ~ ${subject}`);
});

test("subscribers receive what matches their subject, in order, from the moment they subscribe", async () => {
  const bus = createMemoryEventBus();
  const ac = new AbortController();
  bus.publish("turnout.events.config", bytes("before")); // nobody listens yet: gone
  const all = bus.subscribe("turnout.>", ac.signal)[Symbol.asyncIterator]();
  const status = bus.subscribe("turnout.fleet.status.*", ac.signal)[Symbol.asyncIterator]();
  const exact = bus.subscribe("turnout.events.config", ac.signal)[Symbol.asyncIterator]();
  bus.publish("turnout.fleet.status.p1", bytes("1"));
  bus.publish("turnout.events.config", bytes("2"));
  bus.publish("turnout.fleet.status.p2", bytes("3"));
  bus.publish("other.subject", bytes("4"));
  assert.deepEqual(await take(all, 3), ["turnout.fleet.status.p1=1", "turnout.events.config=2", "turnout.fleet.status.p2=3"]);
  assert.deepEqual(await take(status, 2), ["turnout.fleet.status.p1=1", "turnout.fleet.status.p2=3"]);
  assert.deepEqual(await take(exact, 1), ["turnout.events.config=2"]);
  const pending = all.next();
  ac.abort();
  assert.equal((await pending).done, true);
  assert.equal((await status.next()).done, true);
});

test("a subscriber that falls behind loses its oldest messages, not memory", async () => {
  const bus = createMemoryEventBus({ bufferSize: 3 });
  const ac = new AbortController();
  const slow = bus.subscribe("s", ac.signal)[Symbol.asyncIterator]();
  for (let i = 1; i <= 10; i++) bus.publish("s", bytes(String(i)));
  assert.deepEqual(await take(slow, 3), ["s=8", "s=9", "s=10"]);
  assert.equal(bus.dropped(), 7);
  ac.abort();
});

test("publishing on a wildcard or empty token and subscribing with > in the middle are rejected", () => {
  const bus = createMemoryEventBus();
  assert.throws(
    () => bus.publish("a.*", bytes("x")),
    (e: unknown) => (e as TurnoutError).code === "invalid_argument",
  );
  assert.throws(() => bus.publish("a..b", bytes("x")), TurnoutError);
  assert.throws(() => bus.subscribe("a.>.b", new AbortController().signal), TurnoutError);
});

test("subscribers get their own copy of the bytes; breaking out unsubscribes; an aborted signal yields nothing", async () => {
  const bus = createMemoryEventBus();
  const ac = new AbortController();
  const source = bus.subscribe("x", ac.signal);
  const data = bytes("v");
  bus.publish("x", data);
  data[0] = 0; // the subscriber holds its own copy
  for await (const m of source) {
    assert.equal(text(m.data), "v");
    break;
  }
  const done = new AbortController();
  done.abort();
  bus.publish("x", bytes("after"));
  for await (const _ of bus.subscribe("x", done.signal)) assert.fail("nothing expected");
});
