/**
 * Runs at most `limit` tasks at once; the rest wait in arrival order. Nothing accepted is dropped.
 * With `onSaturation`, it says when every slot became busy (`true`) and when one is free again with
 * nothing waiting (`false`), so that its owner can stop taking work meanwhile (see `QueueGate`).
 */
export class ConcurrencyLimiter {
  readonly #limit: number;
  readonly #queue: Array<() => void> = [];
  readonly #onSaturation: ((saturated: boolean) => void) | undefined;
  #active = 0;
  #saturated = false;
  #idle: Array<() => void> = [];

  /**
   * @param limit - tasks allowed at once (≥ 1).
   * @param onSaturation - told `true` when the last slot is taken, `false` when a slot is free and nothing waits.
   */
  constructor(limit: number, onSaturation?: (saturated: boolean) => void) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`concurrency must be an integer ≥ 1, got ${limit}`);
    this.#limit = limit;
    this.#onSaturation = onSaturation;
  }

  /** Whether every slot is busy (or tasks wait). */
  get saturated(): boolean {
    return this.#saturated;
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs `task` when a slot is free and hands it `release`, which frees the slot (later calls do
   * nothing). No promise per task: this is what `serve()` uses on every request. A task that throws
   * frees its slot and the error propagates.
   */
  runWithRelease(task: (release: () => void) => void): void {
    if (this.#active < this.#limit) this.#start(task);
    else this.#queue.push(() => this.#start(task));
  }

  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #start(task: (release: () => void) => void): void {
    this.#active++;
    this.#report();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#active--;
      const next = this.#queue.shift();
      if (next) next();
      else {
        this.#report();
        if (this.#active === 0) {
          const waiters = this.#idle;
          this.#idle = [];
          for (const w of waiters) w();
        }
      }
    };
    try {
      task(release);
    } catch (err) {
      release();
      throw err;
    }
  }

  #report(): void {
    const saturated = this.#active >= this.#limit;
    if (saturated === this.#saturated) return;
    this.#saturated = saturated;
    this.#onSaturation?.(saturated);
  }
}
