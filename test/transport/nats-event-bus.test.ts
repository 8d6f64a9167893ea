import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { connectNats } from "../../src/transport/nats/nats-connection.ts";
import { createNatsEventBus } from "../../src/transport/nats/nats-event-bus.ts";
import { SUBJECTS, type BusMessage } from "../../src/transport/types.ts";
import { startNatsServer } from "../support/nats-server.ts";
import { until } from "../support/until.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const logger = createLogger();

async function take(it: AsyncIterator<BusMessage>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(`${r.value.subject}=${text(r.value.data)}`);
  }
  return out;
}

test("the NATS bus delivers across connections with wildcards; publishing while NATS is down is dropped, not thrown; subscriptions resume", async (t) => {
  const server = await startNatsServer();
  t.after(() => server.stop());
  const a = await connectNats({ servers: server.url, name: "publisher", logger });
  t.after(() => a.close());
  const b = await connectNats({ servers: server.url, name: "subscriber", logger });
  t.after(() => b.close());
  const publisher = createNatsEventBus({ link: a, logger });
  const subscriber = createNatsEventBus({ link: b, logger });
  const ac = new AbortController();
  t.after(() => ac.abort());
  const status = subscriber.subscribe(SUBJECTS.proxyStatusAll, ac.signal)[Symbol.asyncIterator]();
  const events = subscriber.subscribe("turnout.events.>", ac.signal)[Symbol.asyncIterator]();
  await b.require("flush").flush(); // the subscriptions are on the server

  publisher.publish(SUBJECTS.proxyStatus("p1"), bytes("s1"));
  publisher.publish(SUBJECTS.configChanged, bytes("c1"));
  publisher.publish("turnout.fleet.status.p1.extra", bytes("not matched by *"));
  publisher.publish(SUBJECTS.proxyStatus("p2"), bytes("s2"));
  assert.deepEqual(await take(status, 2), ["turnout.fleet.status.p1=s1", "turnout.fleet.status.p2=s2"]);
  assert.deepEqual(await take(events, 1), ["turnout.events.config=c1"]);

  await server.kill();
  // the client notices the closed socket on its own; no event to await here, so poll
  await until("the client to notice the closed socket", () => !a.connected(), { timeoutMs: 5000 });
  assert.equal(a.connected(), false);
  const dropped = publisher.dropped();
  publisher.publish(SUBJECTS.proxyStatus("p1"), bytes("while down")); // must not throw
  assert.equal(publisher.dropped(), dropped + 1);

  await server.restart();
  await Promise.all([a.whenConnected(), b.whenConnected()]);
  await b.require("flush").flush();
  publisher.publish(SUBJECTS.proxyStatus("p3"), bytes("after"));
  assert.deepEqual(await take(status, 1), ["turnout.fleet.status.p3=after"]);
  const pending = events.next();
  ac.abort();
  assert.equal((await pending).done, true);
});
