/**
 * Runs one workload on every target in rounds, in rotating order (round r starts at target r), so
 * a burst of outside load on the machine spreads over the targets instead of landing on one; and
 * charges each phase the CPU its proxy process tree and the simulator spent.
 */
import { processTreeCpuMicros } from "./process-cpu.ts";
import type { Target } from "./targets.ts";

/** One target's measurement of one workload (all rounds together). */
export interface Measured<R> {
  target: Target;
  result: R;
  /** Proxy process tree CPU over the measured phases, µs (undefined for direct). */
  proxyCpuUs?: number;
  /** Simulator CPU over the measured phases, µs. */
  simCpuUs: number;
}

/** Options of {@link measureRounds}. */
export interface RoundsOptions<R> {
  targets: Target[];
  /** Pid of the simulator, charged as upstream cost. */
  simPid: number;
  /** Rounds per target (≥ 1). */
  rounds: number;
  /** Progress label, e.g. "chats c=32". */
  label: string;
  progress(line: string): void;
  /** Unmeasured warm-up before a target's first round. */
  warmup(target: Target): Promise<unknown>;
  /** One measured phase. */
  phase(target: Target, round: number): Promise<R>;
  /** Combines one target's rounds (in order) into one result. */
  merge(results: R[]): R;
}

/** Runs the rounds and answers one {@link Measured} per target, in `targets` order. */
export async function measureRounds<R>(options: RoundsOptions<R>): Promise<Measured<R>[]> {
  const acc = new Map(options.targets.map((t) => [t, { results: [] as R[], proxyCpuUs: 0, simCpuUs: 0 }]));
  const n = options.targets.length;
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < n; i++) {
      const target = options.targets[(i + round) % n];
      const a = acc.get(target)!;
      options.progress(`${options.label}: ${target.name}${options.rounds > 1 ? ` (round ${round + 1}/${options.rounds})` : ""}`);
      if (round === 0) await options.warmup(target);
      const proxy0 = target.pid === undefined ? 0 : processTreeCpuMicros(target.pid);
      const sim0 = processTreeCpuMicros(options.simPid);
      a.results.push(await options.phase(target, round));
      if (target.pid !== undefined) a.proxyCpuUs += processTreeCpuMicros(target.pid) - proxy0;
      a.simCpuUs += processTreeCpuMicros(options.simPid) - sim0;
    }
  }
  return options.targets.map((target) => {
    const a = acc.get(target)!;
    return {
      target,
      result: options.merge(a.results),
      proxyCpuUs: target.pid === undefined ? undefined : a.proxyCpuUs,
      simCpuUs: a.simCpuUs,
    };
  });
}
