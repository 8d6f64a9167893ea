import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fromJsonString } from "@bufbuild/protobuf";
import { request } from "undici";
import { FleetLoadSchema, type FleetLoad } from "../../gen/turnout/v1/events_pb.js";
import { parseConfig } from "../../src/control/config/load-config.ts";
import { createControlPlane } from "../../src/control/control-plane.ts";
import { createLogger } from "../../src/log.ts";
import type { Outcome } from "../../src/proxy/outcome.ts";
import { startProxy, type Proxy } from "../../src/proxy/proxy.ts";
import { startSimulator, type Simulator } from "../../src/sim/simulator.ts";
import { createMemoryTransport } from "../../src/transport/memory/memory-transport.ts";
import { createNatsTransport } from "../../src/transport/nats/nats-transport.ts";
import { SUBJECTS, type Transport } from "../../src/transport/types.ts";
import { startNatsServer } from "../support/nats-server.ts";
import { until } from "../support/until.ts";

const logger = createLogger({ level: "silent" });

/**
 * Route `held` goes to node a only; route `free` to a and b. Requests held on p1 through `held`
 * load node a; p2, choosing for `free`, must see that load to prefer b.
 */
const config = (a: string, b: string) => `
nodes:
  - { id: a, url: "${a}" }
  - { id: b, url: "${b}" }
routes:
  - { name: held, default: m, variants: [ { name: m, model: "m:1b", nodes: [a] } ] }
  - { name: free, default: m, variants: [ { name: m, model: "m:1b", nodes: [a, b] } ] }
`;

function chatBody(model: string, stream: boolean): string {
  return JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }] });
}

/** Starts `count` streams on `route` through `proxyUrl` that stay open until `signal` aborts. */
function hold(proxyUrl: string, route: string, count: number, signal: AbortSignal): Promise<unknown>[] {
  return Array.from({ length: count }, () =>
    request(`${proxyUrl}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chatBody(route, true),
      signal,
    })
      .then((res) => res.body.text())
      .catch(() => undefined),
  );
}

async function chat(proxyUrl: string, route: string): Promise<number> {
  const res = await request(`${proxyUrl}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chatBody(route, false),
    headersTimeout: 10_000,
  });
  await res.body.text();
  return res.statusCode;
}

interface Setup {
  /** Transport of the control plane (and, for the embedded bus, of every proxy). */
  control: Transport;
  /** A transport for proxy `id` (its own NATS connection, or the shared embedded one). */
  forProxy(id: string): Promise<Transport>;
  close(): Promise<void>;
}

async function natsSetup(): Promise<Setup> {
  const nats = await startNatsServer();
  const opened: Transport[] = [];
  const open = async (name: string) => {
    const t = await createNatsTransport({ servers: nats.url, name, logger });
    opened.push(t);
    return t;
  };
  return {
    control: await open("control"),
    forProxy: (id) => open(`proxy-${id}`),
    async close() {
      for (const t of opened) await t.close();
      await nats.stop();
    },
  };
}

async function embeddedSetup(): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), "turnout-fleet-load-"));
  const t = createMemoryTransport({ dir, fsync: false });
  return {
    control: t,
    forProxy: async () => t,
    async close() {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

for (const [kind, setup] of [
  ["a real nats-server", natsSetup],
  ["the embedded bus", embeddedSetup],
] as const) {
  describe(`fleet-wide in-flight counts over ${kind}`, () => {
    it("requests held on one proxy make the other prefer the other node, and the counts clear when they end", async () => {
      const env = await setup();
      // Node a answers only after 60 s: held streams stay in flight; node b answers at once.
      const sims: Simulator[] = [
        await startSimulator({ models: ["m:1b"], ttftMs: 60_000, parallel: 16 }),
        await startSimulator({ models: ["m:1b"], ttftMs: 1, outputTokens: 2, parallel: 16 }),
      ];
      const [a, b] = sims;
      const proxies: Proxy[] = [];
      const held = new AbortController();
      let controlPlane: Awaited<ReturnType<typeof createControlPlane>> | undefined;
      try {
        const { state } = parseConfig(config(a.url, b.url), "test config");
        controlPlane = await createControlPlane({ store: env.control.store, bus: env.control.bus, logger, bootstrap: state });
        const outcomes: Outcome[] = [];
        for (const id of ["p1", "p2"]) {
          const t = await env.forProxy(id);
          proxies.push(
            await startProxy({
              store: t.store,
              bus: t.bus,
              port: 0,
              logger,
              id,
              closeGraceMs: 200,
              onOutcome: id === "p2" ? (o) => outcomes.push(o) : undefined,
            }),
          );
        }
        const [p1, p2] = proxies;
        await Promise.all(proxies.map((p) => p.waitForVersion(1, AbortSignal.timeout(10_000))));

        // Any bus client can read p1's reports: the JSON form of FleetLoad.
        const reports: FleetLoad[] = [];
        const listening = new AbortController();
        const listenedFrom = performance.now();
        void (async () => {
          for await (const m of env.control.bus.subscribe(SUBJECTS.fleetLoad("p1"), listening.signal))
            reports.push(fromJsonString(FleetLoadSchema, new TextDecoder().decode(m.data)));
        })();

        const streams = hold(p1.url, "held", 3, held.signal);
        const threeOnA = (r: FleetLoad) =>
          r.proxy === "p1" &&
          r.refreshIntervalMs === 1000 &&
          r.nodes.length === 1 &&
          r.nodes[0].url === a.url &&
          r.nodes[0].inFlight === 3;
        await until(
          "p2 and a bus listener to see p1's 3 requests on node a",
          () => p2.fleetLoad!.othersInFlight(a.url) === 3 && reports.some(threeOnA),
        );
        assert.equal(p1.fleetLoad!.othersInFlight(a.url), 0, "a proxy does not count its own report as another's");
        assert.equal(p2.fleetLoad!.peers(), 1);

        // p2 has nothing in flight itself: without p1's counts a and b would look the same.
        for (let i = 0; i < 12; i++) assert.equal(await chat(p2.url, "free"), 200);
        assert.deepEqual(
          outcomes.map((o) => o.node),
          Array(12).fill("b"),
        );

        held.abort();
        await Promise.all(streams);
        await until("p1's counts to clear on p2", () => p2.fleetLoad!.othersInFlight(a.url) === 0 && p2.fleetLoad!.peers() === 0);
        listening.abort();
        const listenedMs = performance.now() - listenedFrom;
        assert.deepEqual(reports.at(-1)!.nodes, [], "the last report says p1 has nothing in flight");
        // Changes are coalesced: at most one report per 50 ms tick.
        assert.ok(reports.length <= Math.ceil(listenedMs / 50) + 1, `${reports.length} reports in ${listenedMs.toFixed(0)} ms`);
      } finally {
        held.abort();
        for (const p of proxies) await p.close();
        await controlPlane?.close();
        for (const s of sims) await s.close();
        await env.close();
      }
    });
  });
}

describe("fleet-wide in-flight counts of a proxy that went silent", () => {
  it("expire after 3 of its refresh intervals", async () => {
    const env = await natsSetup();
    const a = await startSimulator({ models: ["m:1b"], ttftMs: 60_000, parallel: 16 });
    const b = await startSimulator({ models: ["m:1b"], ttftMs: 1, outputTokens: 2 });
    const proxies: Proxy[] = [];
    const held = new AbortController();
    let controlPlane: Awaited<ReturnType<typeof createControlPlane>> | undefined;
    try {
      const { state } = parseConfig(config(a.url, b.url), "test config");
      controlPlane = await createControlPlane({ store: env.control.store, bus: env.control.bus, logger, bootstrap: state });
      const t1 = await env.forProxy("p1");
      proxies.push(
        await startProxy({ store: t1.store, bus: t1.bus, port: 0, logger, id: "p1", closeGraceMs: 200, fleetLoadRefreshMs: 300 }),
      );
      const t2 = await env.forProxy("p2");
      proxies.push(await startProxy({ store: t2.store, bus: t2.bus, port: 0, logger, id: "p2", closeGraceMs: 200 }));
      const [p1, p2] = proxies;
      await Promise.all(proxies.map((p) => p.waitForVersion(1, AbortSignal.timeout(10_000))));

      const streams = hold(p1.url, "held", 2, held.signal);
      await until("p2 to see p1's 2 requests on node a", () => p2.fleetLoad!.othersInFlight(a.url) === 2);
      // Still held, and still refreshed: the report outlives 3 intervals while p1 is connected.
      const refreshedUntil = performance.now() + 1200;
      await until("1.2 s with p1's report live", () => {
        assert.equal(p2.fleetLoad!.othersInFlight(a.url), 2);
        return performance.now() > refreshedUntil;
      });
      // p1 loses NATS (its streams stay in flight): its last report expires on p2 (3 × 300 ms).
      const lostAt = performance.now();
      await t1.close();
      await until("p1's report to expire on p2", () => p2.fleetLoad!.othersInFlight(a.url) === 0, { timeoutMs: 5000 });
      const after = performance.now() - lostAt;
      assert.ok(after >= 500, `expired ${after.toFixed(0)} ms after p1 went silent: too early`);
      assert.equal(p2.fleetLoad!.peers(), 0);
      held.abort();
      await Promise.all(streams);
    } finally {
      held.abort();
      for (const p of proxies) await p.close();
      await controlPlane?.close();
      await a.close();
      await b.close();
      await env.close();
    }
  });
});
