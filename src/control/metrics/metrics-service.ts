/**
 * The MetricsService handlers: thin adapters from Connect requests to aggregator windows.
 * GetMetrics answers one window ending now; WatchMetrics yields a window every `interval_ms`
 * until the call ends. After a control-plane restart a client simply calls WatchMetrics again:
 * the new control plane has rebuilt its windows from the outcome log and resumed its durable
 * consumer where the old one acked (see outcome-consumer.ts).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { setTimeout as sleep } from "node:timers/promises";
import { type MetricsService, MetricsWindowSchema, type MetricsWindow } from "../../../gen/turnout/v1/metrics_pb.js";
import { invalidArgument, toConnectError } from "../../errors.ts";
import type { LatencyStats, WindowStats } from "./outcome-aggregator.ts";

/** Default window length, in seconds. */
const DEFAULT_WINDOW_SECONDS = 60;
/** Longest window, in seconds. */
const MAX_WINDOW_SECONDS = 3600;
/** Default and shortest WatchMetrics interval, in ms. */
const DEFAULT_INTERVAL_MS = 1000;
const MIN_INTERVAL_MS = 100;

/** Where windows come from. */
export interface MetricsSource {
  /** The last `windowSeconds` seconds ending now, optionally only `route` ("" = all). */
  window(windowSeconds: number, route: string): WindowStats;
}

/** Options of {@link createMetricsService}. */
export interface MetricsServiceOptions {
  source: MetricsSource;
  /** Requests in flight now for a series; default: 0 (not known per series). */
  inFlight?: (route: string, variant: string) => number;
  /** Ends every WatchMetrics stream when it aborts (the control plane closing). Default: none. */
  closed?: AbortSignal;
}

function windowSecondsOf(value: number): number {
  if (value === 0) return DEFAULT_WINDOW_SECONDS;
  if (value > MAX_WINDOW_SECONDS)
    throw invalidArgument([{ field: "window_seconds", message: `must be at most ${MAX_WINDOW_SECONDS} (got ${value})` }]);
  return value;
}

function latency(s: LatencyStats) {
  return { p50: s.p50, p95: s.p95, p99: s.p99, mean: s.mean, count: BigInt(s.count) };
}

/** Converts a window to its protobuf form. */
function toMetricsWindow(w: WindowStats, inFlight?: (route: string, variant: string) => number): MetricsWindow {
  return create(MetricsWindowSchema, {
    start: timestampFromMs(w.startMs),
    end: timestampFromMs(Math.floor(w.endMs)),
    outcomesTotal: BigInt(w.outcomesTotal),
    series: w.series.map((s) => ({
      route: s.route,
      variant: s.variant,
      requests: BigInt(s.requests),
      requestsPerSecond: s.requestsPerSecond,
      errors: Object.fromEntries(Object.entries(s.errors).map(([k, v]) => [k, BigInt(v)])),
      latencyMs: latency(s.latencyMs),
      ttftMs: latency(s.ttftMs),
      tokensPerSecond: s.tokensPerSecond,
      completionTokens: BigInt(s.completionTokens),
      inFlight: inFlight?.(s.route, s.variant) ?? 0,
    })),
  });
}

/** The MetricsService implementation over `options.source`. */
export function createMetricsService(options: MetricsServiceOptions): ServiceImpl<typeof MetricsService> {
  const { source, inFlight } = options;
  return {
    getMetrics(req) {
      try {
        return { window: toMetricsWindow(source.window(windowSecondsOf(req.windowSeconds), req.route), inFlight) };
      } catch (err) {
        throw toConnectError(err);
      }
    },
    async *watchMetrics(req, ctx) {
      let seconds: number;
      try {
        seconds = windowSecondsOf(req.windowSeconds);
        if (req.intervalMs !== 0 && req.intervalMs < MIN_INTERVAL_MS) {
          throw invalidArgument([
            { field: "interval_ms", message: `must be at least ${MIN_INTERVAL_MS} (got ${req.intervalMs})` },
          ]);
        }
      } catch (err) {
        throw toConnectError(err);
      }
      const interval = req.intervalMs === 0 ? DEFAULT_INTERVAL_MS : req.intervalMs;
      const signal = options.closed === undefined ? ctx.signal : AbortSignal.any([ctx.signal, options.closed]);
      while (!signal.aborted) {
        yield { window: toMetricsWindow(source.window(seconds, req.route), inFlight) };
        try {
          await sleep(interval, undefined, { signal });
        } catch {
          return;
        }
      }
    },
  };
}
