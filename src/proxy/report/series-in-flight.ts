/**
 * Live per-(route, variant) in-flight counts of one proxy, kept on the hot path: an exchange takes
 * its series' counter once (two Map lookups, no allocation after the first request of a series)
 * and decrements that same counter when it finishes. The status reporter reads a snapshot for
 * ProxyStatus.in_flight_by_series; series back at zero are dropped then, so a route removed from
 * the snapshot leaves nothing behind.
 */

/** One series' counter, held by the exchanges in flight on it. */
export interface InFlightCounter {
  count: number;
}

/** A series with requests in flight. */
export interface SeriesInFlightCount {
  route: string;
  variant: string;
  inFlight: number;
}

/** Per-series in-flight counters. */
export class SeriesInFlight {
  private readonly routes = new Map<string, Map<string, InFlightCounter>>();

  /** Counts one more request in flight on (`route`, `variant`); decrement the returned counter when it ends. */
  enter(route: string, variant: string): InFlightCounter {
    let variants = this.routes.get(route);
    if (variants === undefined) {
      variants = new Map();
      this.routes.set(route, variants);
    }
    let counter = variants.get(variant);
    if (counter === undefined) {
      counter = { count: 0 };
      variants.set(variant, counter);
    }
    counter.count++;
    return counter;
  }

  /** The series with requests in flight now, sorted by route then variant; forgets idle ones. */
  snapshot(): SeriesInFlightCount[] {
    const out: SeriesInFlightCount[] = [];
    for (const [route, variants] of this.routes) {
      for (const [variant, counter] of variants) {
        if (counter.count > 0) out.push({ route, variant, inFlight: counter.count });
        else variants.delete(variant); // count 0: no exchange holds this counter
      }
      if (variants.size === 0) this.routes.delete(route);
    }
    return out.sort((a, b) =>
      a.route === b.route ? (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0) : a.route < b.route ? -1 : 1,
    );
  }
}
