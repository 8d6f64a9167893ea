/**
 * Node alerts once per node state change, although several proxies each report their own view of
 * every node. The rule, per node id (times are when this process received the event, not the
 * event's `at`, so proxies' clock skew does not matter):
 *
 * 1. The node's state is the last state alerted for it; it is unknown at start.
 * 2. An event with the node's state is a duplicate (another proxy's view of a change already
 *    alerted, or a repeat) and is dropped.
 * 3. An event with a different state is alerted at once — unless the node's state changed less
 *    than `windowMs` ago. Then it is held, and when the window ends the latest state any proxy
 *    reported is alerted if it still differs. A late proxy's view of a change already alerted
 *    (down, up, then a slower proxy's down and up) and a flapping node collapse into at most
 *    one alert per window, and the last alert always matches the latest report.
 * 4. A node first seen healthy is recorded, not alerted (healthy is not news); first seen down
 *    is alerted. So `node_up` follows a `node_down` of the same process.
 */
import type { NodeHealthEvent } from "./alert-decoder.ts";

/** Options of {@link createNodeDedupe}. */
export interface NodeDedupeOptions {
  /** Receives the events that are alerts. */
  emit(event: NodeHealthEvent): void;
  /** Shortest time between two alerts of one node, in ms. Default 10000. */
  windowMs?: number;
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
  /** Nodes remembered at most (the longest silent are forgotten first). Default 10000. */
  maxNodes?: number;
}

/** The running dedupe. */
export interface NodeDedupe {
  /** Takes one proxy's view; emits at once, later (held), or never (duplicate). */
  observe(event: NodeHealthEvent): void;
  /** Events dropped as duplicates, or folded into a held one, so far. */
  suppressed(): number;
  /** Cancels held events. */
  close(): void;
}

interface NodeState {
  /** Last state alerted (or first seen healthy). */
  healthy: boolean;
  /** When it was set, in ms. */
  since: number;
  /** Latest event of any proxy. */
  latest: NodeHealthEvent;
  /** Timer of a held event. */
  timer?: NodeJS.Timeout;
}

/** Creates a node-event dedupe; see the module comment for the rule. */
export function createNodeDedupe(options: NodeDedupeOptions): NodeDedupe {
  const windowMs = options.windowMs ?? 10_000;
  const now = options.now ?? Date.now;
  const maxNodes = options.maxNodes ?? 10_000;
  const nodes = new Map<string, NodeState>();
  let suppressed = 0;

  function alert(state: NodeState, event: NodeHealthEvent): void {
    state.healthy = event.healthy;
    state.since = now();
    options.emit(event);
  }

  function endWindow(id: string): void {
    const state = nodes.get(id);
    if (state === undefined) return;
    state.timer = undefined;
    if (state.latest.healthy !== state.healthy) alert(state, state.latest);
  }

  return {
    observe(event) {
      let state = nodes.get(event.node);
      if (state === undefined) {
        if (nodes.size >= maxNodes) {
          const [oldest, old] = nodes.entries().next().value!;
          clearTimeout(old.timer);
          nodes.delete(oldest);
        }
        // Not alerted yet: no window to respect.
        state = { healthy: true, since: Number.NEGATIVE_INFINITY, latest: event };
        nodes.set(event.node, state);
        if (!event.healthy) alert(state, event);
        return;
      }
      // Most recently heard of last, so the map's first entry is the longest silent.
      nodes.delete(event.node);
      nodes.set(event.node, state);
      state.latest = event;
      if (state.timer !== undefined) {
        suppressed++; // held: the window's end decides
        return;
      }
      if (event.healthy === state.healthy) {
        suppressed++;
        return;
      }
      const elapsed = now() - state.since;
      if (elapsed >= windowMs) {
        alert(state, event);
        return;
      }
      state.timer = setTimeout(() => endWindow(event.node), windowMs - elapsed);
      state.timer.unref();
    },
    suppressed: () => suppressed,
    close() {
      for (const state of nodes.values()) clearTimeout(state.timer);
      nodes.clear();
    },
  };
}
