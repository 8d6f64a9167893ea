/**
 * What the balancing bench compares, each started fresh in front of the same simulated fleet
 * and stopped after its run: the random-choice proxy (the baseline), `turnout up` (one proxy,
 * embedded), two `turnout up` processes that do not share load (each its own embedded bus), and
 * a distributed Turnout — its own nats-server, `turnout control` and two `turnout proxy`
 * processes sharing their in-flight counts over NATS.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { startNatsServer } from "../test/support/nats-server.ts";
import { startNodeChild } from "./children.ts";
import { startTurnoutChild } from "./turnout-child.ts";

/** The model every simulated node serves. */
const MODEL = "bench-sim:1b";
/** The model name clients send: Turnout's route has the model's own name, so the random proxy
 * can pass requests through unchanged. */
export const ROUTE = MODEL;

/** A started target: where clients send, and how to stop it. */
export interface BalanceTarget {
  /** Entry base URLs (one per proxy). */
  urls: string[];
  stop(): Promise<void>;
}

/** How to start one target. */
export interface BalanceTargetSpec {
  /** Row name. */
  name: string;
  /** What the row is, for the notes under the table. */
  about: string;
  start(): Promise<BalanceTarget>;
}

/** Turnout's config for the fleet: one node per URL, one route over all of them. */
export function fleetConfig(urls: readonly string[]): string {
  return `settings: { first_byte_timeout: 10m, idle_timeout: 2m }
nodes:
${urls.map((url, i) => `  - { id: node-${i + 1}, url: "${url}", models: ["${MODEL}"] }`).join("\n")}
routes:
  - name: "${ROUTE}"
    default: main
    variants: [ { name: main, model: "${MODEL}" } ]
`;
}

/** Waits until `url` answers a chat with 200 (the proxy has its snapshot), at most `timeoutMs`. */
export async function waitServing(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const body = JSON.stringify({ model: ROUTE, stream: false, messages: [{ role: "user", content: "ready?" }] });
  for (;;) {
    try {
      const res = await request(`${url}/api/chat`, { method: "POST", headers: { "content-type": "application/json" }, body });
      await res.body.text();
      if (res.statusCode === 200) return;
    } catch {
      // Not listening yet.
    }
    if (performance.now() > deadline) throw new Error(`bench: ${url} did not serve ${ROUTE} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The targets, in the order they run. `dir` holds config files and data dirs. */
export function balanceTargets(nodeUrls: readonly string[], dir: string): BalanceTargetSpec[] {
  const configPath = join(dir, "turnout.yaml");
  writeFileSync(configPath, fleetConfig(nodeUrls));
  let runs = 0;
  const dataDir = (name: string) => {
    const d = join(dir, `${name}-${++runs}`);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const up = async (name: string) => {
    const child = await startTurnoutChild({
      name,
      args: ["up", "--config", configPath, "--port", "0", "--admin-port", "0", "--data-dir", dataDir(name)],
      label: "traffic",
      logLevel: "warn",
    });
    await waitServing(child.url);
    return child;
  };
  return [
    {
      name: "random choice",
      about: "bench/random-proxy.ts: each request to a node picked uniformly at random",
      async start() {
        const { child, url } = await startNodeChild(
          "random-proxy",
          "random-proxy.ts",
          nodeUrls.flatMap((u) => ["--upstream", u]),
        );
        await waitServing(url);
        return { urls: [url], stop: () => child.stop() };
      },
    },
    {
      name: "turnout up",
      about: "one `turnout up` process (embedded control plane and proxy)",
      async start() {
        const child = await up("up");
        return { urls: [child.url], stop: () => child.stop() };
      },
    },
    {
      name: "2 × turnout up, unshared",
      about: "two `turnout up` processes, half the clients each, each seeing only its own in-flight counts",
      async start() {
        const children = await Promise.all([up("up-a"), up("up-b")]);
        return { urls: children.map((c) => c.url), stop: async () => void (await Promise.all(children.map((c) => c.stop()))) };
      },
    },
    {
      name: "2 turnout proxies, NATS",
      about:
        "nats-server, `turnout control`, two `turnout proxy` processes sharing in-flight counts over NATS, half the clients each",
      async start() {
        const nats = await startNatsServer();
        const started: { stop(): Promise<void> }[] = [];
        const stop = async () => {
          await Promise.all(started.map((c) => c.stop()));
          await nats.stop();
        };
        try {
          const control = await startTurnoutChild({
            name: "control",
            args: ["control", "--nats", nats.url, "--admin-port", "0", "--id", "bench-control", "--config", configPath],
            label: "admin",
            logLevel: "warn",
          });
          started.push(control);
          const proxies = await Promise.all(
            ["p1", "p2"].map((id) =>
              startTurnoutChild({
                name: id,
                args: ["proxy", "--nats", nats.url, "--port", "0", "--id", id, "--data-dir", dataDir(id)],
                label: "traffic",
                logLevel: "warn",
              }),
            ),
          );
          started.push(...proxies);
          await Promise.all(proxies.map((p) => waitServing(p.url)));
          return { urls: proxies.map((p) => p.url), stop };
        } catch (err) {
          await stop();
          throw err;
        }
      },
    },
  ];
}
