/**
 * Runs at most `limit` tasks at once; the rest wait in arrival order. Nothing accepted is dropped.
 */
export class ConcurrencyLimiter {
  readonly #limit: number;
  readonly #queue: Array<() => void> = [];
  #active = 0;
  #idle: Array<() => void> = [];

  /** @param limit - tasks allowed at once (≥ 1). */
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`concurrency must be an integer ≥ 1, got ${limit}`);
    this.#limit = limit;
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Runs `task` when a slot is free; a rejected task frees its slot like a resolved one. */
  run(task: () => Promise<void>): void {
    if (this.#active < this.#limit) this.#start(task);
    else this.#queue.push(() => this.#start(task));
  }

  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #start(task: () => Promise<void>): void {
    this.#active++;
    const done = () => {
      this.#active--;
      const next = this.#queue.shift();
      if (next) next();
      else if (this.#active === 0) {
        const waiters = this.#idle;
        this.#idle = [];
        for (const w of waiters) w();
      }
    };
    // A task's failure is its own business (the server logs it); the slot is freed either way.
    task().then(done, done);
  }
}
