import { test } from "node:test";
import assert from "node:assert/strict";
import { TurnoutError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { connectNats } from "../../src/transport/nats/nats-connection.ts";
import { createNatsOutcomeLog } from "../../src/transport/nats/nats-outcome-log.ts";
import { createNatsTransport, type NatsTransport } from "../../src/transport/nats/nats-transport.ts";
import type { LogEntry } from "../../src/transport/types.ts";
import { startNatsServer } from "../support/nats-server.ts";

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
  assert.deepEqual(got.map((e) => [e.seq, text(e.data)]), [[1, "one"], [2, "two"], [3, "end"]]);
});

test("a consumer restarted in a new process resumes after its last ack: nothing lost, nothing twice", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const proxy = await connect(server.url, "proxy", t);
  await Promise.all(Array.from({ length: 200 }, (_, i) => proxy.outcomes.append(`r${i + 1}`, bytes(String(i + 1)))));

  // ack_wait 1 s: entries the first reader had pulled but not yet yielded come back after it
  const first = await connectNats({ servers: server.url, name: "control-1", logger });
  const firstLog = await createNatsOutcomeLog({ link: first, logger, ackWaitMs: 1000 });
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
  const rest = await take(it2, 80);
  // the 30 nak'ed come back at once, the 50 pulled but never yielded after ack_wait
  assert.deepEqual(rest.map((e) => e.seq).sort((a, b) => a - b), Array.from({ length: 80 }, (_, i) => 121 + i));
  for (const e of rest) e.ack();
  await proxy.outcomes.append("sentinel", bytes("sentinel"));
  const [next] = await take(it2, 1);
  assert.equal(text(next.data), "sentinel", "nothing else was delivered before the next append");
  ac2.abort();
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
  await assert.rejects(proxy.outcomes.append("down", bytes("down")), (e: unknown) => e instanceof TurnoutError && e.code === "unavailable" && /^NATS is unreachable/.test(e.message));
  assert.ok(performance.now() - started < 2500);

  await server.restart();
  await proxy.link.whenConnected();
  for (let i = 1; i <= 50; i++) await proxy.outcomes.append(`b${i}`, bytes(`b${i}`));
  await proxy.outcomes.append("a7", bytes("a7 retried after the restart")); // deduped by id
  await proxy.outcomes.append("sentinel", bytes("sentinel"));
  record(await take(it, 51));
  assert.equal(seen.size, 151);
  assert.ok([...seen.values()].every((n) => n === 1), "no record delivered twice");
  assert.equal(seen.get("sentinel"), 1);
  assert.equal(seen.has("down"), false);
});
