/**
 * The proxy's status reporter: snapshot ACK/NACK reports and live in-flight counts (total and per
 * route and variant) in,
 * `ProxyStatus` messages (JSON) out on the bus — on `SUBJECTS.proxyStatus(id)` for every snapshot
 * seen and as a heartbeat every interval, and on `SUBJECTS.proxyApplied` for every ACK/NACK.
 * The control planes' fleet trackers listen to these; so can any NATS client.
 */
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { hostname } from "node:os";
import { ApplyState, ProxyStatusSchema, type ProxyStatus } from "../../../gen/turnout/v1/events_pb.js";
import type { SeriesInFlightCount } from "./series-in-flight.ts";
import type { Logger } from "../../log.ts";
import { SUBJECTS, type EventBus, type ProxyReport } from "../../transport/types.ts";

/** Options of {@link createStatusReporter}. */
export interface StatusReporterOptions {
  /** Bus the status is published on. */
  bus: EventBus;
  /** Proxy id (the last token of the status subject). */
  id: string;
  /** Requests in flight on the proxy now. */
  inFlight: () => number;
  /** Requests in flight now per route and variant (ProxyStatus.in_flight_by_series). Default: none reported. */
  inFlightBySeries?: () => SeriesInFlightCount[];
  logger: Logger;
  /** Interval between heartbeats, in ms. Default 1000. */
  heartbeatMs?: number;
  /** Host name reported. Default `os.hostname()`. */
  host?: string;
  /** Clock, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** A running reporter. */
export interface StatusReporter {
  /**
   * Records an ACK/NACK. Once started, publishes the status at once on the status subject and
   * on `SUBJECTS.proxyApplied`; before `start` the latest report waits for it.
   */
  report(report: ProxyReport): void;
  /** Starts publishing: the status now (with `url`), then a heartbeat every interval. */
  start(url: string): void;
  /** The status as it would be published now. */
  status(): ProxyStatus;
  /** Stops the heartbeat. */
  close(): void;
}

const encoder = new TextEncoder();

/** Creates a reporter; nothing is published before `start`. */
export function createStatusReporter(options: StatusReporterOptions): StatusReporter {
  const { bus, id } = options;
  const log = options.logger.child({ component: "status-reporter" });
  const now = options.now ?? Date.now;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const host = options.host ?? hostname();
  const startedAt = timestampFromMs(now());
  const subject = SUBJECTS.proxyStatus(id);
  let url = "";
  let seen = 0;
  let applied = 0;
  let state = ApplyState.UNSPECIFIED;
  let error = "";
  let started = false;
  let pendingApplied = false;
  let timer: NodeJS.Timeout | undefined;

  const status = (): ProxyStatus =>
    create(ProxyStatusSchema, {
      id,
      host,
      version: BigInt(seen),
      appliedVersion: BigInt(applied),
      state,
      error,
      inFlight: Math.max(0, options.inFlight()),
      inFlightBySeries: options.inFlightBySeries?.() ?? [],
      heartbeatAt: timestampFromMs(now()),
      heartbeatIntervalMs: heartbeatMs,
      url,
      startedAt,
    });

  function publish(applied: boolean): void {
    try {
      const data = encoder.encode(toJsonString(ProxyStatusSchema, status()));
      bus.publish(subject, data);
      if (applied) bus.publish(SUBJECTS.proxyApplied, data);
    } catch (err) {
      log.warn({ err }, "status not published");
    }
  }

  return {
    report(r) {
      // A report about undecodable bytes carries version 0: the newest version seen stays.
      seen = Math.max(seen, r.version);
      applied = r.appliedVersion;
      state = r.state === "ACK" ? ApplyState.ACK : ApplyState.NACK;
      error = r.error ?? "";
      if (started) publish(true);
      else pendingApplied = true;
    },
    start(listenUrl) {
      if (started) return;
      started = true;
      url = listenUrl;
      publish(pendingApplied);
      pendingApplied = false;
      timer = setInterval(() => publish(false), heartbeatMs);
      timer.unref();
    },
    status,
    close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}
