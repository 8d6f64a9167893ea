/**
 * Experiment reports of a control plane: the tally fed by the outcome consumer (and, once wired,
 * by feedback), the stored experiments, and the report builder, behind GetReport and WatchReport.
 *
 * Durability: the tally is rebuilt at startup by replaying the outcome log from the earliest
 * start of an experiment that still has a report to give (`replayFromMs`, bounded by the log's
 * retention `retentionMs`): a restart changes no number. Both transports keep acked outcomes
 * for 7 days by default (the NATS stream's max_age; the embedded file log is opened with
 * keepAckedMs = 7 days, within its 1 GiB cap), so a report survives a restart for experiments
 * started within that time and within what the log holds.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ExperimentStatus, type ExperimentReport } from "../../../gen/turnout/v1/experiment_pb.js";
import type { ExperimentOutcomeSink } from "../metrics/outcome-consumer.ts";
import type { ExperimentOperations } from "./experiment-operations.ts";
import { buildExperimentReport } from "./experiment-report.ts";
import { createExperimentTally, type ExperimentTally, type FeedbackRecord } from "./experiment-tally.ts";

/** Options of {@link createExperimentReports}. */
export interface ExperimentReportsOptions {
  /** The stored experiments. */
  ops: ExperimentOperations;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** How far back the outcome log can be replayed, in ms. Default 7 days. */
  retentionMs?: number;
  /** A tally to use (tests). Default: a new one. */
  tally?: ExperimentTally;
}

/** The reports. */
export interface ExperimentReports {
  /** The consumer's sink: outcomes in, and how far back to replay. */
  readonly sink: ExperimentOutcomeSink;
  readonly tally: ExperimentTally;
  /** Counts one feedback value (`Feedback` entries of an OutcomeBatch, once wired). */
  recordFeedback(record: FeedbackRecord): void;
  /** The report of experiment `id`; NotFound for an unknown id. */
  get(id: string): Promise<ExperimentReport>;
  /** The report at once, then again every `intervalSeconds` (default 5) when it changed; ends with `signal`. */
  watch(id: string, intervalSeconds: number | undefined, signal: AbortSignal): AsyncGenerator<ExperimentReport>;
}

const { RUNNING, PAUSED, STOPPED, CONCLUDED } = ExperimentStatus;

/** Creates the reports over `options.ops`. */
export function createExperimentReports(options: ExperimentReportsOptions): ExperimentReports {
  const now = options.now ?? Date.now;
  const retentionMs = options.retentionMs ?? 7 * 24 * 3600_000;
  const tally = options.tally ?? createExperimentTally();

  async function get(id: string): Promise<ExperimentReport> {
    const e = await options.ops.get(id);
    return buildExperimentReport(e.value, tally.get(id), now());
  }

  return {
    tally,
    sink: {
      apply: (record) => tally.apply(record),
      async replayFromMs() {
        const oldest = now() - retentionMs;
        let from: number | undefined;
        for (const { value: e } of await options.ops.list()) {
          if (e.startedAt === undefined || ![RUNNING, PAUSED, STOPPED, CONCLUDED].includes(e.status)) continue;
          const started = Math.max(timestampMs(e.startedAt), oldest);
          from = from === undefined ? started : Math.min(from, started);
        }
        return from;
      },
    },
    recordFeedback: (record) => tally.recordFeedback(record),
    get,
    async *watch(id, intervalSeconds, signal) {
      const everyMs = (intervalSeconds !== undefined && intervalSeconds > 0 ? intervalSeconds : 5) * 1000;
      let sent: string | undefined;
      while (!signal.aborted) {
        const report = await get(id);
        const version = `${tally.get(id)?.version ?? 0}:${report.status}`;
        if (version !== sent) {
          sent = version;
          yield report;
        }
        try {
          await sleep(everyMs, undefined, { signal });
        } catch {
          return;
        }
      }
    },
  };
}
