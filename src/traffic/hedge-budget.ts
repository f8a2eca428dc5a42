/**
 * The share of a service's calls that may be hedged: a token bucket, as gRPC's retry throttling
 * (A6, `tokenRatio`) and Envoy's retry budgets, so that a service that is slow for everyone is not
 * sent every request twice.
 *
 * @module
 */

/** Tokens are counted in thousandths, so that a ratio of 0.1 adds up exactly. */
const SCALE = 1000;

/**
 * A token bucket of one service: every call adds `ratio` of a token (up to `burst` tokens), every
 * hedge takes a whole one. Over any stretch of calls, hedges ≤ `ratio` × calls + `burst`. It starts
 * full, so the first slow calls of a quiet service can be hedged.
 *
 * @example
 * ```ts
 * const budget = new HedgeBudget(0.1, 2);
 * budget.take(); // true
 * budget.take(); // true
 * budget.take(); // false: 10 more calls refill one token
 * ```
 */
export class HedgeBudget {
  readonly #add: number;
  readonly #cap: number;
  #tokens: number;

  /**
   * @param ratio - tokens each call adds, in [0, 1] (0.1: hedges are at most 10% of calls)
   * @param burst - most tokens held, and the tokens it starts with (≥ 1)
   * @throws RangeError for a ratio outside [0, 1] or a burst below 1
   */
  constructor(ratio: number, burst: number) {
    if (!(ratio >= 0 && ratio <= 1))
      throw new RangeError(`hedge budget ratio must be in [0, 1], got ${ratio}`);
    if (!(Number.isFinite(burst) && burst >= 1))
      throw new RangeError(`hedge budget burst must be a number ≥ 1, got ${burst}`);
    this.#add = Math.round(ratio * SCALE);
    this.#cap = Math.round(burst * SCALE);
    this.#tokens = this.#cap;
  }

  /** Tokens held now (whole and fractional). */
  get tokens(): number {
    return this.#tokens / SCALE;
  }

  /** Counts one call: adds its share of a token. */
  deposit(): void {
    this.#tokens = Math.min(this.#cap, this.#tokens + this.#add);
  }

  /**
   * Takes a token for one hedge.
   *
   * @returns false, taking nothing, when less than a whole token is held (the budget is exhausted)
   */
  take(): boolean {
    if (this.#tokens < SCALE) return false;
    this.#tokens -= SCALE;
    return true;
  }
}
