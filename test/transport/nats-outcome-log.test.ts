import { test } from "node:test";
import assert from "node:assert/strict";
import { TurnoutError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { connectNats } from "../../src/transport/nats/nats-connection.ts";
import { createNatsOutcomeLog } from "../../src/transport/nats/nats-outcome-log.ts";
import { createNatsTransport, type NatsTransport } from "../../src/transport/nats/nats-transport.ts";
import type { LogEntry } from "../../src/transport/types.ts";
import { startNatsServer } from "../support/nats-server.ts";
import { until } from "../support/until.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const logger = createLogger();

async function take(it: AsyncIterator<LogEntry>, n: number): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

async function connect(url: string, name: string, t: { after: (fn: () => Promise<void>) => void }): Promise<NatsTransport> {
  const transport = await createNatsTransport({ servers: url, name, logger });
  t.after(() => transport.close());
  return transport;
}

test("appending the same id twice stores it once (Nats-Msg-Id within the duplicate window)", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const proxy = await connect(server.url, "proxy", t);
  await proxy.outcomes.append("batch-1", bytes("one"));
  await proxy.outcomes.append("batch-1", bytes("one (retry)"));
  await proxy.outcomes.append("batch-2", bytes("two"));
  await proxy.outcomes.append("batch-3", bytes("end"));
  const ac = new AbortController();
  const got = await take(proxy.outcomes.consume("control", ac.signal)[Symbol.asyncIterator](), 3);
  ac.abort();
  assert.deepEqual(
    got.map((e) => [e.seq, text(e.data)]),
    [
      [1, "one"],
      [2, "two"],
      [3, "end"],
    ],
  );
});

test("a consumer restarted in a new process resumes after its last ack: nothing lost, nothing twice", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const proxy = await connect(server.url, "proxy", t);
  await Promise.all(Array.from({ length: 200 }, (_, i) => proxy.outcomes.append(`r${i + 1}`, bytes(String(i + 1)))));

  // ack_wait 60 s: only a nak brings an entry back in time
  const first = await connectNats({ servers: server.url, name: "control-1", logger });
  const firstLog = await createNatsOutcomeLog({ link: first, logger, ackWaitMs: 60_000 });
  const ac = new AbortController();
  const it = firstLog.consume("control", ac.signal)[Symbol.asyncIterator]();
  const got = await take(it, 150);
  for (const e of got.slice(0, 120)) e.ack(); // the last 30 yielded are not acked: nak'ed on abort
  ac.abort();
  await it.next();
  await first.close(); // drains: the acks reach the server

  const second = await connect(server.url, "control-2", t);
  const ac2 = new AbortController();
  const it2 = second.outcomes.consume("control", ac2.signal)[Symbol.asyncIterator]();
  const started = performance.now();
  const rest = await Promise.race([
    take(it2, 80),
    new Promise<never>((_, reject) =>
      AbortSignal.timeout(10_000).addEventListener("abort", () => reject(new Error("entries waited for ack_wait: not nak'ed"))),
    ),
  ]);
  assert.ok(performance.now() - started < 10_000);
  // the 30 yielded but not acked and the 50 pulled into the client's buffer but never yielded
  // were nak'ed when the first call ended: they come back at once, not after ack_wait
  assert.deepEqual(
    rest.map((e) => e.seq).sort((a, b) => a - b),
    Array.from({ length: 80 }, (_, i) => 121 + i),
  );
  for (const e of rest) e.ack();
  await proxy.outcomes.append("sentinel", bytes("sentinel"));
  const [next] = await take(it2, 1);
  assert.equal(text(next.data), "sentinel", "nothing else was delivered before the next append");
  ac2.abort();
});

/** Every entry `replay` yields, as seqs. */
async function replaySeqs(log: NatsTransport["outcomes"], consumer: string, sinceMs: number): Promise<number[]> {
  const out: number[] = [];
  for await (const e of log.replay(consumer, sinceMs, new AbortController().signal)) out.push(e.seq);
  return out;
}

/** Resolves once the clock has passed `ms` (appends after it are stamped later; there is no event for that). */
async function clockPast(ms: number): Promise<void> {
  await until(`the clock to pass ${ms}`, () => Date.now() > ms, { intervalMs: 0 });
}

test("replay yields the entries stored since sinceMs up to the durable consumer's ack floor, from a new process, leaving the consumer where it was", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const proxy = await connect(server.url, "proxy", t);
  for (let i = 1; i <= 30; i++) await proxy.outcomes.append(`r${i}`, bytes(String(i)));
  const since = Date.now() + 1;
  await clockPast(since);
  for (let i = 31; i <= 100; i++) await proxy.outcomes.append(`r${i}`, bytes(String(i)));

  const first = await connect(server.url, "control-1", t);
  const ac = new AbortController();
  const it = first.outcomes.consume("control", ac.signal)[Symbol.asyncIterator]();
  for (const e of await take(it, 60)) e.ack();
  ac.abort();
  await it.next();
  await first.link.require("flush").flush(); // the acks are on the server

  const second = await connect(server.url, "control-2", t);
  assert.deepEqual(
    await replaySeqs(second.outcomes, "control", 0),
    Array.from({ length: 60 }, (_, i) => i + 1),
    "everything acked",
  );
  assert.deepEqual(
    await replaySeqs(second.outcomes, "control", since),
    Array.from({ length: 30 }, (_, i) => i + 31),
    "only what was stored since `since`",
  );
  assert.deepEqual(await replaySeqs(second.outcomes, "control", Date.now() + 60_000), [], "nothing stored since then");
  assert.deepEqual(await replaySeqs(second.outcomes, "nobody", 0), [], "an unknown consumer has nothing to replay");
  const texts: string[] = [];
  for await (const e of second.outcomes.replay("control", 0, new AbortController().signal)) texts.push(text(e.data));
  assert.equal(texts[59], "60");

  // the durable consumer resumes after its ack floor, untouched by the replays
  const ac2 = new AbortController();
  const rest = await take(second.outcomes.consume("control", ac2.signal)[Symbol.asyncIterator](), 40);
  ac2.abort();
  assert.deepEqual(
    rest.map((e) => e.seq),
    Array.from({ length: 40 }, (_, i) => i + 61),
  );
  const jsm = await (await import("@nats-io/jetstream")).jetstreamManager(second.link.require("list"));
  const names: string[] = [];
  for await (const c of jsm.consumers.list("TURNOUT_OUTCOMES")) names.push(c.name);
  assert.deepEqual(names, ["control"], "the replays' ephemeral consumers are gone");
});

test("replay while NATS is down fails fast with unavailable", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const control = await connect(server.url, "control", t);
  await server.kill();
  await assert.rejects(
    replaySeqs(control.outcomes, "control", 0),
    (e: unknown) => e instanceof TurnoutError && e.code === "unavailable",
  );
});

test("across a nats-server kill and restart the consumer resumes with every record exactly once; appends while down are unavailable", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const proxy = await connect(server.url, "proxy", t);
  const control = await connect(server.url, "control", t);
  const ac = new AbortController();
  t.after(() => ac.abort());
  const it = control.outcomes.consume("control", ac.signal)[Symbol.asyncIterator]();
  const seen = new Map<string, number>();
  const record = (entries: LogEntry[]) => {
    for (const e of entries) {
      seen.set(text(e.data), (seen.get(text(e.data)) ?? 0) + 1);
      e.ack();
    }
  };

  for (let i = 1; i <= 100; i++) await proxy.outcomes.append(`a${i}`, bytes(`a${i}`));
  record(await take(it, 100));
  await control.link.require("flush").flush(); // acks on the server before the crash

  await server.kill();
  const started = performance.now();
  await assert.rejects(
    proxy.outcomes.append("down", bytes("down")),
    (e: unknown) => e instanceof TurnoutError && e.code === "unavailable" && /^NATS is unreachable/.test(e.message),
  );
  assert.ok(performance.now() - started < 2500);

  await server.restart();
  await proxy.link.whenConnected();
  for (let i = 1; i <= 50; i++) await proxy.outcomes.append(`b${i}`, bytes(`b${i}`));
  await proxy.outcomes.append("a7", bytes("a7 retried after the restart")); // deduped by id
  await proxy.outcomes.append("sentinel", bytes("sentinel"));
  record(await take(it, 51));
  assert.equal(seen.size, 151);
  assert.ok(
    [...seen.values()].every((n) => n === 1),
    "no record delivered twice",
  );
  assert.equal(seen.get("sentinel"), 1);
  assert.equal(seen.has("down"), false);
});
