/**
 * Scheduler statistics of processes (Linux): CPU time and time spent runnable but waiting for a
 * CPU, summed over a process's threads from /proc/<pid>/task/<tid>/schedstat ("run ns, wait ns,
 * timeslices"). The convergence bench reads them around the measured changes to tell work from
 * waiting for a core. Missing files (not Linux, process gone) count as zero.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Totals over a set of processes, in milliseconds. */
export interface SchedSample {
  /** Time on a CPU. */
  cpuMs: number;
  /** Time runnable, waiting on a run queue. */
  waitMs: number;
}

/** Current totals of `pids` (each process's every thread). */
export function schedSample(pids: readonly number[]): SchedSample {
  let cpuNs = 0;
  let waitNs = 0;
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ");
        cpuNs += Number(run);
        waitNs += Number(wait);
      } catch {
        // Thread exited meanwhile.
      }
    }
  }
  return { cpuMs: cpuNs / 1e6, waitMs: waitNs / 1e6 };
}

/** `after − before`. */
export function schedDelta(before: SchedSample, after: SchedSample): SchedSample {
  return { cpuMs: after.cpuMs - before.cpuMs, waitMs: after.waitMs - before.waitMs };
}
