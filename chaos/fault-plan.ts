/**
 * The chaos suite's windows, in order: what each kills and when it starts it again. Times inside a
 * window pace the fault (how long a part stays down); they do not wait for anything to happen.
 */
import type { Topology } from "./topology.ts";

/** What a window's fault may use. */
export interface FaultContext {
  windowMs: number;
  progress(line: string): void;
  /** Called once NATS is back, to measure how long a write takes to reach every proxy. */
  onNatsBack(): Promise<void>;
}

/** One window: its name and its fault; `run` answers a note for the table. */
export interface Fault {
  name: string;
  run(ctx: FaultContext): Promise<string>;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The windows of one chaos run on `t`. */
export function faultPlan(t: Topology): Fault[] {
  const [c1, c2] = t.controls;
  const proxy = t.proxies[t.proxies.length - 1];
  const node = t.sims[1] ?? t.sims[0];
  const downFor = (ctx: FaultContext) => Math.min(5000, ctx.windowMs / 4);
  return [
    { name: "baseline", run: async () => "no fault" },
    {
      name: "NATS killed, a proxy killed in the outage",
      async run(ctx) {
        await t.killNats();
        await pause(3000);
        await proxy.kill();
        await pause(2000);
        await proxy.start();
        ctx.progress(`${proxy.name} restarted while NATS is down`);
        await pause(downFor(ctx));
        await t.restartNats();
        await ctx.onNatsBack();
        return `kill -9 nats; 3 s later kill -9 ${proxy.name}, restarted 2 s later; NATS back after ${((3000 + 2000 + downFor(ctx)) / 1000).toFixed(0)} s`;
      },
    },
    ...[c1, c2].map((c) => ({
      name: `control plane ${c.name} killed`,
      async run(ctx: FaultContext) {
        await c.kill();
        await pause(downFor(ctx));
        await c.start();
        return `kill -9 ${c.name}, restarted ${(downFor(ctx) / 1000).toFixed(0)} s later`;
      },
    })),
    {
      name: `node ${node.name} killed mid-stream`,
      async run(ctx) {
        await node.kill();
        await pause(downFor(ctx));
        await node.start();
        return `kill -9 ${node.name}, restarted ${(downFor(ctx) / 1000).toFixed(0)} s later`;
      },
    },
    {
      name: "both control planes killed",
      async run(ctx) {
        await Promise.all([c1.kill(), c2.kill()]);
        await pause(downFor(ctx));
        await Promise.all([c1.start(), c2.start()]);
        return `kill -9 ${c1.name} and ${c2.name}, restarted ${(downFor(ctx) / 1000).toFixed(0)} s later`;
      },
    },
    { name: "calm", run: async () => "no fault" },
  ];
}
