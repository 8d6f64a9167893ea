/**
 * CPU time of a process and its descendants, read from /proc (Linux), so the bench can charge a
 * proxy for exactly the CPU it spent: a Node child, or nginx's master plus its workers.
 */
import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  ppid: number;
  /** user + system CPU of the whole thread group, in clock ticks. */
  ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): ppid is field 4, utime field 14, stime field 15.
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** Pids of every live descendant of `root` (children, grandchildren, ...). */
export function descendantsOf(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat) parentOf.set(pid, stat.ppid);
  }
  const found: number[] = [];
  let frontier = [root];
  // Bounded: each round goes one generation deeper and a pid is only ever found once.
  for (let depth = 0; depth < 16 && frontier.length > 0; depth++) {
    const next: number[] = [];
    for (const [pid, ppid] of parentOf) if (frontier.includes(ppid)) next.push(pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/**
 * CPU time of one process, in µs: the sum of its threads' run time from
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds), or, where that is missing, utime + stime from
 * /proc/<pid>/stat (clock ticks of 10 ms). Threads that already exited are not in the schedstat
 * sum; a Node process and nginx keep theirs for their lifetime.
 */
function processCpuMicros(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    }
    if (ns > 0) return ns / 1000;
  } catch {
    // No schedstat (or the process is gone): fall back to stat.
  }
  return ((readStat(pid)?.ticks ?? 0) * 1e6) / TICKS_PER_SECOND;
}

/** User + system CPU, in microseconds, spent so far by `pid` and its live descendants. */
export function processTreeCpuMicros(pid: number): number {
  let micros = 0;
  for (const p of [pid, ...descendantsOf(pid)]) micros += processCpuMicros(p);
  return micros;
}
