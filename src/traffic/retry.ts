/**
 * A retry loop with jittered exponential backoff and a deadline. Pure: time, sleeping and randomness
 * are injected, so it is unit-tested without timers. Shared by the gateway and the client (see `call-guard.ts`).
 *
 * @module
 */
import { setTimeout as sleepFor } from "node:timers/promises";

/**
 * How often and how fast to retry.
 *
 * @example
 * ```ts
 * const policy: RetryPolicy = { attempts: 3, backoffMs: 25, maxBackoffMs: 250 };
 * const answer = await withRetry(() => callOnce(), { policy, retryable: (err) => err instanceof NoRespondersError });
 * ```
 */
export interface RetryPolicy {
  /** Total attempts, the first included; 1 means no retry. */
  readonly attempts: number;
  /** Base of the exponential backoff, in milliseconds. */
  readonly backoffMs: number;
  /** Largest backoff, in milliseconds. */
  readonly maxBackoffMs: number;
}

/**
 * A policy that never retries.
 *
 * @example
 * ```ts
 * const answer = await withRetry(() => callOnce(), { policy: NO_RETRY, retryable: () => true }); // one attempt
 * ```
 */
export const NO_RETRY: RetryPolicy = { attempts: 1, backoffMs: 0, maxBackoffMs: 0 };

/**
 * What {@link RetryOptions.onRetry} is told before a retry.
 *
 * @example
 * ```ts
 * createFetch({ retry: { onRetry: (e) => console.warn(e.service, e.attempt, e.delayMs, e.error) } });
 * ```
 */
export interface RetryEvent {
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** Its error. */
  readonly error: unknown;
  /** Milliseconds waited before the next attempt. */
  readonly delayMs: number;
}

/**
 * Settings of {@link withRetry}.
 *
 * @example
 * ```ts
 * const answer = await withRetry((attempt) => callOnce(attempt), {
 *   policy: { attempts: 4, backoffMs: 50, maxBackoffMs: 500 },
 *   retryable: (err) => err instanceof NoRespondersError,
 *   deadline: Date.now() + 5_000, // as the default clock, Date.now, counts
 *   signal: AbortSignal.timeout(5_000),
 * });
 * ```
 */
export interface RetryOptions {
  /** Attempts and backoff. */
  policy: RetryPolicy;
  /** Whether an error may be retried (other errors are thrown at once). */
  retryable: (error: unknown) => boolean;
  /**
   * Retryable errors that are retried until the deadline, however many attempts that takes (e.g.
   * no responders for a service that answered lately: its instances are saturated); default none.
   */
  untilDeadline?: ((error: unknown) => boolean) | undefined;
  /** Time (as `now()` counts it) after which no retry starts; default none. */
  deadline?: number;
  /** Stops waiting: a pending backoff rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Called, and awaited, before each retry's backoff. */
  onRetry?: ((event: RetryEvent) => void | Promise<void>) | undefined;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
  /** Waits `ms` (default a timer that honours `signal`). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Random number in [0, 1) (default `Math.random`). */
  random?: () => number;
}

/**
 * The backoff before retry number `retry` ("equal jitter"): half of the exponential step
 * `min(maxBackoffMs, backoffMs × 2^(retry−1))` plus a random share of the other half, so retries
 * spread out yet never come back at once.
 *
 * @param retry - the retry number, from 1
 * @param policy - the backoff settings
 * @param random - a random number in [0, 1)
 * @returns milliseconds to wait, a whole number
 * @example
 * ```ts
 * backoffDelay(1, { attempts: 3, backoffMs: 100, maxBackoffMs: 1000 }, () => 0.5); // 75
 * ```
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, retry - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  ms > 0 ? sleepFor(ms, undefined, signal ? { signal } : undefined) : Promise.resolve();

/**
 * Runs `attempt` until it succeeds, its error is not retryable, the attempts are used up, or the
 * next backoff would end past the deadline; then throws the last error.
 *
 * @param attempt - one try; receives its number, from 1
 * @param options - policy, which errors to retry, deadline and injected clock, sleep and randomness
 * @param firstFailure - attempt 1 was already made, outside, and failed with this error: the loop
 *   decides on it and goes on from attempt 2 (so a caller can make its first try without the
 *   loop's promises, and enter it only on failure)
 * @returns what the first successful attempt returned
 * @throws the last attempt's error; the signal's reason when aborted during a backoff
 * @example
 * ```ts
 * const res = await withRetry(() => callService(nc, "weather", req, opts), {
 *   policy: { attempts: 3, backoffMs: 25, maxBackoffMs: 250 },
 *   retryable: (err) => err instanceof NoRespondersError,
 *   deadline: Date.now() + 5000,
 * });
 * ```
 */
export async function withRetry<T>(
  attempt: (n: number) => Promise<T>,
  options: RetryOptions,
  firstFailure?: { readonly error: unknown },
): Promise<T> {
  const { policy, retryable, deadline = Number.POSITIVE_INFINITY, signal } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      if (n === 1 && firstFailure !== undefined) throw firstFailure.error;
      return await attempt(n);
    } catch (error) {
      if (!retryable(error) || signal?.aborted) throw error;
      if (n >= policy.attempts && !(options.untilDeadline?.(error) && deadline < Number.POSITIVE_INFINITY))
        throw error;
      const delayMs = backoffDelay(Math.min(n, 16), policy, random);
      if (now() + delayMs >= deadline) throw error;
      await options.onRetry?.({ attempt: n, error, delayMs });
      await sleep(delayMs, signal);
      // A busy event loop may wake the sleep late: no attempt starts past the deadline.
      if (now() >= deadline) throw error;
    }
  }
}
