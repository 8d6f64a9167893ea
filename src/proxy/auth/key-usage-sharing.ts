/**
 * Shares the key limiter's counts over the bus, so the proxies of a fleet hold each key's limits
 * together (see key-limiter.ts). Every `intervalMs` a timer ticks the limiter (new leases, idle
 * keys forgotten, expired peers dropped) and publishes this proxy's use of the active keys as
 * KeyUsage (JSON) on `SUBJECTS.keyUsage(id)`: at once when there is any, else every `refreshMs` as
 * a heartbeat while `active()` says the snapshot has limited keys (so the others count this proxy
 * when they share out leases). Every other proxy's KeyUsage is handed to the limiter; a report
 * counts for 3 of its sender's refresh intervals. Closing sends an empty report, which clears this
 * proxy's use on the others at once. Nothing here is on the request path.
 */
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { KeyUsageSchema } from "../../../gen/turnout/v1/events_pb.js";
import type { Logger } from "../../log.ts";
import { SUBJECTS, type EventBus } from "../../transport/types.ts";
import type { KeyLimiter, PeerKeyUse } from "./key-limiter.ts";

/** Options of {@link createKeyUsageSharing}. */
export interface KeyUsageSharingOptions {
  bus: EventBus;
  /** This proxy's id (the last token of its subject). */
  id: string;
  limiter: KeyLimiter;
  /** Whether the current snapshot has keys with limits (heartbeats are sent only then). */
  active: () => boolean;
  logger: Logger;
  /** Interval between two ticks (leases and reports), in ms. Default 50. */
  intervalMs?: number;
  /** Longest time between two reports while `active()`, in ms. Default 1000. */
  refreshMs?: number;
}

/** Running usage sharing. */
export interface KeyUsageSharing {
  /** Sends an empty report, then stops publishing and listening. */
  close(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Starts sharing `limiter`'s counts on `bus`. */
export function createKeyUsageSharing(options: KeyUsageSharingOptions): KeyUsageSharing {
  const { bus, id, limiter } = options;
  const log = options.logger.child({ component: "key-usage" });
  const intervalMs = options.intervalMs ?? 50;
  const refreshMs = options.refreshMs ?? 1000;
  const ownSubject = SUBJECTS.keyUsage(id);
  const prefixLength = SUBJECTS.keyUsage("").length;
  const controller = new AbortController();
  let lastSentAt = Number.NEGATIVE_INFINITY;
  let sentKeys = 0;

  const publish = (keys: PeerKeyUse[]) => {
    try {
      bus.publish(
        ownSubject,
        encoder.encode(toJsonString(KeyUsageSchema, create(KeyUsageSchema, { proxy: id, keys, refreshIntervalMs: refreshMs }))),
      );
    } catch (err) {
      log.warn({ err }, "key usage not published");
    }
    lastSentAt = limiter.now();
    sentKeys = keys.length;
  };

  const tick = () => {
    const keys = limiter.tick(intervalMs);
    // In use: every tick (the leases are granted per report). Idle: a heartbeat per refresh
    // interval while the snapshot has limited keys, and one empty report after the last use.
    if (keys.length > 0 || sentKeys > 0 || (options.active() && limiter.now() - lastSentAt >= refreshMs)) publish(keys);
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();

  void (async () => {
    try {
      for await (const m of bus.subscribe(SUBJECTS.keyUsageAll, controller.signal)) {
        if (m.subject === ownSubject) continue;
        let report;
        try {
          report = fromJsonString(KeyUsageSchema, decoder.decode(m.data), { ignoreUnknownFields: true });
        } catch (err) {
          log.debug({ subject: m.subject, err: (err as Error).message }, "bad key usage report ignored");
          continue;
        }
        const peer = m.subject.slice(prefixLength);
        if (report.keys.length === 0 && report.refreshIntervalMs === 0) limiter.forgetPeer(peer);
        else limiter.applyPeerReport(peer, report.keys, 3 * (report.refreshIntervalMs || refreshMs));
      }
    } catch (err) {
      if (!controller.signal.aborted) log.warn({ err }, "key usage subscription ended");
    }
  })();

  return {
    close() {
      clearInterval(timer);
      controller.abort();
      // refresh_interval_ms 0: "gone", the others drop this proxy at once.
      try {
        bus.publish(ownSubject, encoder.encode(toJsonString(KeyUsageSchema, create(KeyUsageSchema, { proxy: id }))));
      } catch {
        // The bus is gone: the others drop this proxy when its reports expire.
      }
    },
  };
}
