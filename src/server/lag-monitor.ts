/**
 * An instance's watch on its own event loop: a timer that notices when it fires late. An instance
 * whose loop lags (a blocked loop, a paused process, a long GC) steps out of its queue group until it
 * recovers, so that new requests go to the other members (PROTOCOL.md §8.4, docs/TRAFFIC.md).
 *
 * @module
 */

/** Settings of a {@link LagMonitor}. */
export interface LagMonitorOptions {
  /** Lateness of the timer, in ms, past which the loop counts as lagging (> 0). */
  threshold: number;
  /** Milliseconds without lag after which a lagging loop counts as recovered. */
  recover: number;
  /** Milliseconds between the timer's runs (default 50). */
  interval?: number;
}

/** Default {@link LagMonitorOptions.threshold}: far beyond a busy loop's usual lateness, well below the caller's patience. */
export const DEFAULT_LAG_THRESHOLD = 500;
/**
 * Late runs in a row that make the loop lagging: one long block (a big message parsed, a process
 * that resumed) is not lag that lasts, and stepping out after it would only turn a slow instance — or
 * the only one — into an absent one.
 */
const LATE_RUNS = 2;
/** Default {@link LagMonitorOptions.recover}. */
export const DEFAULT_LAG_RECOVER = 1000;

/**
 * Runs an unref'd timer every `interval` ms and compares when it fired with when it was due: lateness
 * past `threshold` twice in a row makes the loop lagging (`onChange(true)`); `recover` ms without it,
 * recovered (`onChange(false)`). {@link LagMonitor.suspect} also tells, from the moment the loop runs again, that
 * it has just been stalled — before the timer had a chance to fire.
 *
 * @example
 * ```ts
 * const monitor = new LagMonitor({ threshold: 300, recover: 1000 }, (lagging) =>
 *   lagging ? gate.pause() : gate.resume(),
 * );
 * // ...
 * monitor.stop();
 * ```
 */
export class LagMonitor {
  readonly #threshold: number;
  readonly #recover: number;
  readonly #interval: number;
  readonly #onChange: (lagging: boolean) => void;
  readonly #timer: NodeJS.Timeout;
  #last: number;
  #lagging = false;
  #calmSince = 0;
  #episodes = 0;
  #lateRuns = 0;
  /** When the timer last ran late (past the threshold), or -Infinity. */
  #lateAt = Number.NEGATIVE_INFINITY;

  /**
   * Starts the timer.
   *
   * @param options - threshold, recovery time and interval
   * @param onChange - told when the loop starts and stops lagging
   * @throws RangeError for a threshold or recovery time that is not a positive number
   */
  constructor(options: LagMonitorOptions, onChange: (lagging: boolean) => void) {
    const { threshold, recover, interval = 50 } = options;
    if (!(threshold > 0)) throw new RangeError(`lag threshold must be > 0 ms, got ${threshold}`);
    if (!(recover >= 0)) throw new RangeError(`lag recovery must be ≥ 0 ms, got ${recover}`);
    this.#threshold = threshold;
    this.#recover = recover;
    this.#interval = interval;
    this.#onChange = onChange;
    this.#last = performance.now();
    this.#timer = setInterval(() => this.#tick(), interval);
    this.#timer.unref();
  }

  /** Whether the loop counts as lagging now. */
  get lagging(): boolean {
    return this.#lagging;
  }

  /** How often the loop started lagging so far. */
  get episodes(): number {
    return this.#episodes;
  }

  /**
   * Whether work arriving now may have waited through a stall: the loop lags, the timer ran late
   * within the last `recover` ms (work read after it may have waited through the same stall: on
   * resuming, the loop may run timers before it reads its sockets, or after), or the timer is overdue
   * by more than the threshold (the loop has just come back and not yet run it).
   */
  suspect(now = performance.now()): boolean {
    return (
      this.#lagging ||
      now - this.#lateAt < this.#recover ||
      now - this.#last > this.#interval + this.#threshold
    );
  }

  /** Stops the timer (no more changes are reported). */
  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const now = performance.now();
    const late = now - this.#last - this.#interval;
    this.#last = now;
    if (late > this.#threshold) {
      this.#calmSince = now;
      this.#lateAt = now;
      if (!this.#lagging && ++this.#lateRuns >= LATE_RUNS) {
        this.#lagging = true;
        this.#episodes++;
        this.#onChange(true);
      }
    } else if (!this.#lagging) {
      this.#lateRuns = 0;
    } else if (now - this.#calmSince >= this.#recover) {
      this.#lagging = false;
      this.#onChange(false);
    }
  }
}
