/**
 * Deadlines of calls and handlers without a timer per call. Entries of one duration expire in the
 * order they were added, so they sit in insertion order (a Map) and one timer, armed for the oldest
 * entry, serves them all: adding and settling cost a Map insert and delete. A settled entry leaves its
 * timer armed; when it fires it finds nothing due, re-arms for the oldest live entry or, with nothing
 * left, stops. A timer pair per call, or an interval started and stopped per request, showed in the
 * client's and the service's profiles (BENCHMARKS.md, "Measured reasons for fast paths").
 *
 * @module
 */

interface Entry {
  at: number;
  expire: () => void;
}

/** Deadlines that all last the same `ms`; each expires within a millisecond or so of its time. */
export class Deadlines {
  readonly #ms: number;
  readonly #entries = new Map<number, Entry>();
  readonly #onIdle: (() => void) | undefined;
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param ms - how long an entry lives before it expires (> 0).
   * @param onIdle - called when the timer stops because nothing is left (see {@link DeadlineLanes}).
   */
  constructor(ms: number, onIdle?: () => void) {
    this.#ms = ms;
    this.#onIdle = onIdle;
  }

  /** Entries not yet settled or expired. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Starts a deadline.
   *
   * @param expire - called once if the entry is still there when its deadline passes.
   * @param ms - this entry's duration, when not the lane's own (see {@link DeadlineLanes}: within a
   *   lane's step (1.6% at most), so that an entry behind a later one is at most that late).
   * @returns the entry's id, for {@link Deadlines.settle}.
   */
  add(expire: () => void, ms = this.#ms): number {
    const id = ++this.#seq;
    this.#entries.set(id, { at: performance.now() + ms, expire });
    if (this.#timer === undefined) this.#arm(ms);
    return id;
  }

  /** Removes an entry; false when it had already expired (or was settled). */
  settle(id: number): boolean {
    return this.#entries.delete(id);
  }

  /** Expires every entry now, as if its deadline had passed (an instance stopping at its deadline). */
  expireAll(): void {
    for (const [id, entry] of this.#entries) {
      this.#entries.delete(id);
      entry.expire();
    }
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(ms)));
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    for (const [id, entry] of this.#entries) {
      if (entry.at > now) {
        this.#arm(entry.at - now);
        return;
      }
      this.#entries.delete(id);
      entry.expire();
    }
    // expire() may have added entries (and armed the timer) meanwhile.
    if (this.#timer === undefined) this.#onIdle?.();
  };
}

/** Where an entry of {@link DeadlineLanes} sits, to settle it. */
export interface DeadlineHandle {
  readonly lane: Deadlines;
  readonly id: number;
}

/**
 * The lane a duration goes in: the duration itself up to 127 ms, above that rounded down to one of 64
 * steps per power of two (steps of at most 1.6%), so that retries — which get what is left of a
 * deadline, a different number of milliseconds each — share a few lanes instead of one each.
 */
function laneOf(ms: number): number {
  if (ms < 128) return ms;
  const shift = 31 - Math.clz32(ms) - 6;
  return (ms >>> shift) << shift;
}

/**
 * Deadlines of any duration: one {@link Deadlines} lane per duration step ({@link laneOf}), dropped
 * when its timer finds it empty. A client's calls mostly share one timeout, so there are few lanes.
 * Within a lane an entry keeps its own exact deadline; one that sits behind a later one (a longer
 * duration of the same step added earlier) expires at most one step (1.6%) late, never early.
 */
export class DeadlineLanes {
  readonly #lanes = new Map<number, Deadlines>();

  /** Lanes alive now (for tests). */
  get lanes(): number {
    return this.#lanes.size;
  }

  /**
   * Starts a deadline `ms` from now.
   *
   * @param expire - called once if the entry is not settled by then.
   */
  add(ms: number, expire: () => void): DeadlineHandle {
    const key = laneOf(Math.max(1, Math.ceil(ms)));
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      const created = new Deadlines(key, () => {
        if (this.#lanes.get(key) === created) this.#lanes.delete(key);
      });
      lane = created;
      this.#lanes.set(key, lane);
    }
    return { lane, id: lane.add(expire, ms) };
  }

  /** Settles an entry; false when it had already expired. */
  settle(handle: DeadlineHandle): boolean {
    return handle.lane.settle(handle.id);
  }
}
