/**
 * A service's recent answer times, and a quantile of them: what a hedge's delay is derived from.
 *
 * @module
 */

/** Answers kept per service by default. */
export const DEFAULT_LATENCY_SAMPLES = 200;

/**
 * The last `size` answer times of one service, in milliseconds, in a ring. A quantile is computed by
 * sorting a copy, at most once per eighth of the ring's new samples (and on first need): on the
 * request path a call only writes one number.
 *
 * @example
 * ```ts
 * const window = new LatencyWindow(100);
 * for (let i = 1; i <= 100; i++) window.record(i);
 * window.quantile(0.95); // 95
 * ```
 */
export class LatencyWindow {
  readonly #ring: Float64Array;
  #next = 0;
  #count = 0;
  /** Samples recorded since the sorted copy was made. */
  #fresh = 0;
  #sorted: Float64Array | undefined;

  /**
   * @param size - answers kept (≥ 1)
   * @throws RangeError when `size` is not a whole number ≥ 1
   */
  constructor(size: number = DEFAULT_LATENCY_SAMPLES) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`latency samples must be an integer ≥ 1, got ${size}`);
    this.#ring = new Float64Array(size);
  }

  /** Number of answers held (at most the ring's size). */
  get count(): number {
    return this.#count;
  }

  /**
   * Records one answer time; negative or non-finite values are ignored.
   *
   * @param ms - time from sending the request to its response head, in milliseconds
   */
  record(ms: number): void {
    if (!(ms >= 0 && ms < Number.POSITIVE_INFINITY)) return;
    this.#ring[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#ring.length;
    if (this.#count < this.#ring.length) this.#count++;
    this.#fresh++;
  }

  /**
   * The `q` quantile of the answers held (nearest rank), or `undefined` when none is held.
   *
   * @param q - in (0, 1], e.g. 0.95
   * @returns milliseconds
   */
  quantile(q: number): number | undefined {
    const n = this.#count;
    if (n === 0) return undefined;
    let sorted = this.#sorted;
    if (sorted === undefined || this.#fresh > Math.max(1, this.#ring.length >> 3) || sorted.length !== n) {
      sorted = this.#ring.slice(0, n).sort();
      this.#sorted = sorted;
      this.#fresh = 0;
    }
    const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
    return sorted[rank - 1];
  }
}
