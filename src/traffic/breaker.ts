/**
 * A circuit breaker per service: a pure state machine over an injected clock. Closed, it counts
 * outcomes in a sliding window and opens when the failure ratio passes a threshold; open, it fails
 * calls fast; after a pause it lets a few probe calls through (half-open) and closes again when a
 * probe succeeds, or opens again when one fails.
 *
 * @module
 */
import { brandError, type CallTarget, ErrorCode, MeshError } from "../protocol/index.js";

/**
 * The states of a {@link CircuitBreaker}, with the value its metrics gauge shows.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker();
 * if (breaker.state === CircuitState.Open) console.log("the service is given a rest");
 * ```
 */
export const CircuitState = {
  /** Calls go through; outcomes are counted. */
  Closed: 0,
  /** A few probe calls go through; the rest fail fast. */
  HalfOpen: 1,
  /** Every call fails fast with {@link CircuitOpenError}. */
  Open: 2,
} as const;
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState];

/**
 * Settings of a {@link CircuitBreaker}.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ failureRatio: 0.5, minimumCalls: 20, windowMs: 10_000, openMs: 5_000, probes: 1 });
 * ```
 */
export interface BreakerOptions {
  /** Failure share (0..1] over the window that opens the circuit (default 0.5). */
  failureRatio?: number;
  /** Calls the window must hold before the ratio counts (default 10). */
  minimumCalls?: number;
  /** Length of the sliding window in milliseconds (default 10 000), kept in 10 buckets. */
  windowMs?: number;
  /** How long the circuit stays open before probing, in milliseconds (default 5 000). */
  openMs?: number;
  /** Probe calls allowed at once while half-open (default 1). */
  probes?: number;
  /** Clock in milliseconds (default `performance.now`). */
  now?: () => number;
  /** Told of every state change. */
  onStateChange?: ((state: CircuitState) => void) | undefined;
}

/**
 * The right to make one call: report its outcome exactly once.
 *
 * @example
 * ```ts
 * const permit = breaker.acquire();
 * if (!permit) throw new Error("circuit open");
 * try {
 *   const answer = await call();
 *   permit.success();
 *   return answer;
 * } catch (err) {
 *   permit.failure();
 *   throw err;
 * }
 * ```
 */
export interface BreakerPermit {
  /** The call succeeded (or failed in a way that says nothing about the service's health). */
  success(): void;
  /** The call failed. */
  failure(): void;
  /** The call ended in a way that says nothing either way (aborted by its caller): frees the permit. */
  release(): void;
}

/**
 * A call refused because the service's circuit is open. Code `NM_ERR_CIRCUIT_OPEN`, status 503.
 *
 * @example
 * ```ts
 * const fetch = createFetch({ breaker: { failureRatio: 0.5, minimumCalls: 10 } });
 * const res = await fetch("http://weather.nats/city").catch((err) => err);
 * if (res instanceof CircuitOpenError) console.log(res.status); // 503 while the circuit is open
 * ```
 */
export class CircuitOpenError extends MeshError {
  static {
    brandError(CircuitOpenError, "CircuitOpenError");
  }

  /** Milliseconds until the circuit lets a probe through (0 when half-open with probes busy). */
  readonly retryAfterMs: number;

  /**
   * @param target - the service (and subject) refused
   * @param retryAfterMs - milliseconds until a probe may go through
   * @example
   * ```ts
   * throw new CircuitOpenError({ service: "weather" }, 4000);
   * ```
   */
  constructor(target: CallTarget, retryAfterMs: number) {
    super(
      ErrorCode.CircuitOpen,
      503,
      `circuit open for service '${target.service}': recent calls failed, not sending (retry in ${Math.ceil(retryAfterMs)} ms)`,
      target,
    );
    this.retryAfterMs = retryAfterMs;
  }
}

const BUCKETS = 10;

/**
 * One service's circuit breaker.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ failureRatio: 0.5, minimumCalls: 20 });
 * const permit = breaker.acquire();
 * if (!permit) throw new CircuitOpenError({ service: "weather" }, breaker.retryAfter());
 * try { const res = await call(); permit.success(); return res; }
 * catch (err) { permit.failure(); throw err; }
 * ```
 */
export class CircuitBreaker {
  readonly #ratio: number;
  readonly #minimum: number;
  readonly #bucketMs: number;
  readonly #openMs: number;
  readonly #probes: number;
  readonly #now: () => number;
  readonly #onChange: ((state: CircuitState) => void) | undefined;
  readonly #ok = new Array<number>(BUCKETS).fill(0);
  readonly #failed = new Array<number>(BUCKETS).fill(0);
  /** Index (time / bucketMs) of the newest bucket written. */
  #head = 0;
  #state: CircuitState = CircuitState.Closed;
  #openedAt = 0;
  #probing = 0;
  /** Changes whenever the state does: outcomes of calls let through in an older state are ignored. */
  #generation = 0;

  /**
   * @param options - threshold, window, pause, probes and clock
   * @throws RangeError for a ratio outside (0, 1], or a non-positive window, pause, minimum or probe count
   * @example
   * ```ts
   * let t = 0;
   * const breaker = new CircuitBreaker({ now: () => t, openMs: 1000 });
   * ```
   */
  constructor(options: BreakerOptions = {}) {
    const { failureRatio = 0.5, minimumCalls = 10, windowMs = 10_000, openMs = 5_000, probes = 1 } = options;
    if (!(failureRatio > 0 && failureRatio <= 1))
      throw new RangeError(`failureRatio must be in (0, 1], got ${failureRatio}`);
    for (const [name, v] of Object.entries({ minimumCalls, windowMs, openMs, probes })) {
      if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be > 0, got ${v}`);
    }
    this.#ratio = failureRatio;
    this.#minimum = minimumCalls;
    this.#bucketMs = windowMs / BUCKETS;
    this.#openMs = openMs;
    this.#probes = probes;
    this.#now = options.now ?? (() => performance.now());
    this.#onChange = options.onStateChange;
    this.#head = Math.floor(this.#now() / this.#bucketMs);
  }

  /** The state now (an open circuit whose pause is over reads as half-open). */
  get state(): CircuitState {
    if (this.#state === CircuitState.Open && this.#now() - this.#openedAt >= this.#openMs) {
      this.#set(CircuitState.HalfOpen);
    }
    return this.#state;
  }

  /** Milliseconds until an open circuit lets a probe through; 0 when not open. */
  retryAfter(): number {
    if (this.state !== CircuitState.Open) return 0;
    return Math.max(0, this.#openMs - (this.#now() - this.#openedAt));
  }

  /**
   * Asks to make a call.
   *
   * @returns a permit to report the call's outcome on, or undefined when the call must fail fast
   * @example
   * ```ts
   * const permit = breaker.acquire() ?? fail();
   * ```
   */
  acquire(): BreakerPermit | undefined {
    const state = this.state;
    if (state === CircuitState.Open) return undefined;
    const generation = this.#generation;
    if (state === CircuitState.HalfOpen) {
      if (this.#probing >= this.#probes) return undefined;
      this.#probing++;
      let done = false;
      const end = (ok: boolean | undefined) => {
        if (done) return;
        done = true;
        if (generation !== this.#generation) return;
        this.#probing--;
        if (ok === true) this.#close();
        else if (ok === false) this.#open();
      };
      return { success: () => end(true), failure: () => end(false), release: () => end(undefined) };
    }
    let done = false;
    const end = (ok: boolean | undefined) => {
      if (done || generation !== this.#generation) return;
      done = true;
      if (ok !== undefined) this.#record(ok);
    };
    return { success: () => end(true), failure: () => end(false), release: () => end(undefined) };
  }

  #record(ok: boolean): void {
    const index = this.#advance();
    if (ok) {
      this.#ok[index]!++;
      return;
    }
    this.#failed[index]!++;
    let okCount = 0;
    let failedCount = 0;
    for (let i = 0; i < BUCKETS; i++) {
      okCount += this.#ok[i]!;
      failedCount += this.#failed[i]!;
    }
    const total = okCount + failedCount;
    if (total >= this.#minimum && failedCount / total >= this.#ratio) this.#open();
  }

  /** Moves the window to now, clearing buckets that fell out of it; returns the current bucket. */
  #advance(): number {
    const head = Math.floor(this.#now() / this.#bucketMs);
    const stale = Math.min(BUCKETS, head - this.#head);
    for (let i = 1; i <= stale; i++) {
      const b = (this.#head + i) % BUCKETS;
      this.#ok[b] = 0;
      this.#failed[b] = 0;
    }
    if (head > this.#head) this.#head = head;
    return ((this.#head % BUCKETS) + BUCKETS) % BUCKETS;
  }

  #open(): void {
    this.#openedAt = this.#now();
    this.#set(CircuitState.Open);
  }

  #close(): void {
    this.#ok.fill(0);
    this.#failed.fill(0);
    this.#set(CircuitState.Closed);
  }

  #set(state: CircuitState): void {
    this.#generation++;
    this.#probing = 0;
    const changed = state !== this.#state;
    this.#state = state;
    if (changed) this.#onChange?.(state);
  }
}
