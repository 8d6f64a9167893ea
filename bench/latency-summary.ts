/**
 * Percentiles of latency samples. Samples are kept in a growable Float64Array (milliseconds) so
 * recording one costs no allocation on the load generator's hot path.
 */

/** Summary of one set of samples, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Append-only sample buffer. */
export class Samples {
  private data = new Float64Array(4096);
  private size = 0;

  /** Records one sample (milliseconds). */
  add(ms: number): void {
    if (this.size === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.size++] = ms;
  }

  get count(): number {
    return this.size;
  }

  /** Percentiles by the nearest-rank method (p99 of 1000 samples is the 990th smallest). */
  summary(): LatencySummary {
    const sorted = this.data.slice(0, this.size).sort();
    const rank = (p: number) => (this.size === 0 ? NaN : sorted[Math.min(this.size - 1, Math.ceil((p / 100) * this.size) - 1)]);
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: this.size,
      p50: rank(50),
      p90: rank(90),
      p99: rank(99),
      max: this.size === 0 ? NaN : sorted[this.size - 1],
      mean: this.size === 0 ? NaN : sum / this.size,
    };
  }
}
