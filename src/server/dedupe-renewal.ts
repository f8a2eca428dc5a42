/**
 * `Renewal`: keeps a deduplication claim (a `running` record) alive while its handler runs
 * (docs/TRAFFIC.md §8).
 *
 * @module
 */
/**
 * Renews a claim every third of the lease while the handler runs, until the instance's handler
 * timeout (a handler past it is answered 504 and its key left to expire) or until a renewal finds
 * the record taken over.
 */
export class Renewal {
  readonly #timer: NodeJS.Timeout;
  readonly #until: number;
  #pending: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(lease: number, timeout: number, renew: () => Promise<boolean>) {
    this.#until = timeout > 0 ? performance.now() + timeout : Number.POSITIVE_INFINITY;
    this.#timer = setInterval(
      () => {
        if (this.#stopped) return;
        if (performance.now() > this.#until) {
          clearInterval(this.#timer);
          return;
        }
        this.#pending = this.#pending.then(renew).then((ok) => {
          if (!ok) clearInterval(this.#timer);
        });
      },
      Math.max(1, Math.floor(lease / 3)),
    );
    this.#timer.unref();
  }

  /** Stops renewing and waits for a renewal under way (its revision is the one to replace). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#pending;
  }
}
