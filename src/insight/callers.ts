/**
 * What callers see that instances cannot: requests that found no instance (no responders) and
 * requests the caller gave up on (timeouts). Each caller publishes its cumulative counts (see
 * caller-report.ts); the aggregator keeps one window per caller, which turns them into rates per
 * service. Pure apart from the clock given.
 *
 * @module
 */

/**
 * Cumulative counts of one service, as one caller process saw them.
 *
 * @example
 * ```ts
 * const insight = createInsight(nc, {
 *   callers: (): CallerCounts[] => [{ service: "orders", noResponders: counters.noResponders, timeouts: counters.timeouts }],
 * });
 * ```
 */
export interface CallerCounts {
  /** The natsmesh service called. */
  service: string;
  /** Calls made (answered or not); optional, 0 when not given. */
  calls?: number;
  /** Attempts that found no instance of the service. */
  noResponders: number;
  /** Requests the caller answered 504 (the service did not answer in time). */
  timeouts: number;
}

/**
 * Per second, over the window.
 *
 * @example
 * ```ts
 * const { noResponderRate, callerTimeoutRate } = insight.view().services[0]!;
 * ```
 */
export interface CallerRates {
  /** Attempts per second that found no instance of the service. */
  noResponderRate: number;
  /** Requests per second the caller timed out on (answered 504). */
  callerTimeoutRate: number;
}

interface Sample {
  t: number;
  counts: Map<string, { noResponders: number; timeouts: number }>;
}

/** The caller counts of a window: one sample per tick, the oldest kept as the base. */
export class CallerWindow {
  readonly #windowMs: number;
  readonly #samples: Sample[] = [];

  /** @param windowMs - the window, in milliseconds */
  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /**
   * Adds a sample (counts summed per service: a gateway counts per route too).
   *
   * @param counts - cumulative counts
   * @param t - when, in `performance.now()` milliseconds
   */
  add(counts: Iterable<CallerCounts>, t: number): void {
    const map = new Map<string, { noResponders: number; timeouts: number }>();
    for (const c of counts) {
      const m = map.get(c.service) ?? { noResponders: 0, timeouts: 0 };
      m.noResponders += c.noResponders;
      m.timeouts += c.timeouts;
      map.set(c.service, m);
    }
    this.#samples.push({ t, counts: map });
    let drop = 0;
    while (drop + 1 < this.#samples.length && this.#samples[drop + 1]!.t <= t - this.#windowMs) drop++;
    if (drop > 0) this.#samples.splice(0, drop);
  }

  /** The rates per service with any no-responders or timeouts in the window. */
  rates(): Map<string, CallerRates> {
    const out = new Map<string, CallerRates>();
    const oldest = this.#samples[0];
    const newest = this.#samples.at(-1);
    if (!oldest || !newest || newest === oldest) return out;
    const seconds = (newest.t - oldest.t) / 1000;
    for (const [service, now] of newest.counts) {
      const before = oldest.counts.get(service) ?? { noResponders: 0, timeouts: 0 };
      const nr = Math.max(0, now.noResponders - before.noResponders);
      const to = Math.max(0, now.timeouts - before.timeouts);
      if (nr > 0 || to > 0)
        out.set(service, { noResponderRate: nr / seconds, callerTimeoutRate: to / seconds });
    }
    return out;
  }
}
