/**
 * The chaos suite's admin writes: every `intervalMs`, one write through a live control plane (in
 * turn), each adding the next label `w<n>` to the marker node (read, then a compare-and-swap
 * PutNode). A write the control plane acknowledged must be in the final state: every `w<n>` of an
 * acknowledged write is checked at the end. A write that failed may or may not have landed; it is
 * neither counted as acknowledged nor as lost.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "../gen/turnout/v1/admin_pb.js";
import { MARKER_NODE, type Member } from "./topology.ts";

export interface AdminWriter {
  /** Numbers of the acknowledged writes. */
  readonly acked: number[];
  /** Writes that failed (no answer, or an error). */
  failed(): number;
  /**
   * One write that waits until every live proxy serves its snapshot; answers the ms it took, or
   * undefined when no control plane took it within `timeoutMs`.
   */
  writeAndConverge(timeoutMs: number): Promise<number | undefined>;
  /** Stops writing; resolves once the write in flight has ended. */
  stop(): Promise<void>;
  /** The acknowledged writes missing from the marker node now (read through a live control plane). */
  lost(): Promise<number[]>;
}

function clientOf(url: string): Client<typeof AdminService> {
  return createClient(AdminService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
}

/** Starts writing through `controls`. */
export function startAdminWriter(controls: readonly Member[], intervalMs: number): AdminWriter {
  const clients = new Map(controls.map((c) => [c.name, clientOf(c.url)]));
  const acked: number[] = [];
  let failures = 0;
  let n = 0;
  let turn = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> = Promise.resolve();

  async function write(waitForFleetMs: number): Promise<boolean> {
    const live = controls.filter((c) => c.alive());
    if (live.length === 0) return false;
    const control = live[turn++ % live.length];
    const client = clients.get(control.name)!;
    const seq = ++n;
    try {
      const stored = (await client.getNode({ id: MARKER_NODE }, { timeoutMs: 5000 })).node;
      if (stored?.node === undefined) throw new Error("marker node missing");
      const node = stored.node;
      node.labels = { ...node.labels, [`w${seq}`]: "1" };
      await client.putNode(
        { node, expectedRevision: stored.revision, waitForFleetMs },
        { timeoutMs: waitForFleetMs > 0 ? waitForFleetMs + 5000 : 5000 },
      );
      acked.push(seq);
      return true;
    } catch {
      failures++;
      return false;
    }
  }

  const tick = () => {
    if (stopped) return;
    inFlight = write(0).finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  timer = setTimeout(tick, intervalMs);

  return {
    acked,
    failed: () => failures,
    async writeAndConverge(timeoutMs) {
      const started = performance.now();
      while (performance.now() - started < timeoutMs) {
        await inFlight;
        const p = write(timeoutMs);
        inFlight = p;
        if (await p) return performance.now() - started;
        // No control plane took it yet (NATS just back): try again shortly.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return undefined;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
    async lost() {
      const live = controls.find((c) => c.alive());
      if (live === undefined) throw new Error("no control plane is running to read the marker node");
      const node = (await clients.get(live.name)!.getNode({ id: MARKER_NODE })).node?.node;
      const labels = node?.labels ?? {};
      return acked.filter((seq) => labels[`w${seq}`] !== "1");
    },
  };
}
