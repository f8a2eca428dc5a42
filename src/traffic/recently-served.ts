/**
 * Which services answered this caller lately. A "no responders" for such a service most likely means
 * every instance is saturated (a saturated instance steps out of its queue group) or restarting, not
 * that the service does not exist: the caller then waits for capacity until its deadline instead of
 * failing after the retry policy's few attempts. For a service not seen lately, no responders still
 * fails fast (a mistyped name gets its 503 at once).
 *
 * @module
 */

/** How long an answer from a service counts as "lately", in milliseconds. */
export const RECENTLY_SERVED_MS = 60_000;

/**
 * How long a request waits for capacity of a service that answered lately, at most (and never past
 * its deadline): long enough for a saturating burst to drain or an instance to be replaced, short
 * enough that a service that is really gone gets its 503 within seconds.
 */
export const WAIT_FOR_CAPACITY_MS = 5_000;

/** Remembers when each service last answered. */
export class RecentlyServed {
  readonly #seen = new Map<string, number>();
  readonly #window: number;
  readonly #now: () => number;

  /**
   * @param window - how long an answer counts, in ms (default {@link RECENTLY_SERVED_MS})
   * @param now - clock in ms (default `performance.now`)
   */
  constructor(window = RECENTLY_SERVED_MS, now: () => number = () => performance.now()) {
    this.#window = window;
    this.#now = now;
  }

  /** Records an answer from `service`. */
  served(service: string): void {
    this.#seen.set(service, this.#now());
  }

  /** Whether `service` answered within the window. */
  recently(service: string): boolean {
    const at = this.#seen.get(service);
    return at !== undefined && this.#now() - at < this.#window;
  }
}
