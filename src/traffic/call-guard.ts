/**
 * What the client wraps around each call to a service: the shared retry policy (idempotent
 * requests, on no responders and lost connections, jittered backoff, overall deadline) and, when
 * enabled, a circuit breaker per service and hedged requests (each attempt of an idempotent call
 * may be sent again when its answer is late).
 *
 * @module
 */

import type { Registry } from "prom-client";
import {
  ConnectionClosedError,
  headerValue,
  InstanceLostError,
  NoRespondersError,
  TimeoutError,
  type WireRequest,
  type WireResponse,
} from "../protocol/index.js";
import { type CircuitBreaker, CircuitOpenError } from "./breaker.js";
import { CLIENT_CIRCUIT_GAUGE } from "./breaker-metrics.js";
import { clientHedgeCounters } from "./hedge-metrics.js";
import type { HedgeSettings } from "./hedge-policy.js";
import { IDEMPOTENCY_KEY, isIdempotent } from "./idempotency.js";
import { RecentlyServed, WAIT_FOR_CAPACITY_MS } from "./recently-served.js";
import { NO_RETRY, type RetryEvent, type RetryPolicy, withRetry } from "./retry.js";
import { type BreakerSettings, ServiceBreakers } from "./service-breakers.js";
import { type HedgeChoice, ServiceHedging } from "./service-hedging.js";

/**
 * Retry settings of a client (`createFetch({ retry })`, `new MeshDispatcher({ retry })`).
 *
 * @example
 * ```ts
 * const fetch = createFetch({
 *   retry: {
 *     attempts: 4,
 *     backoffMs: 50,
 *     maxBackoffMs: 1_000,
 *     onRetry: ({ service, attempt, delayMs }) => console.warn(`${service}: retry ${attempt} in ${delayMs} ms`),
 *   },
 * });
 * ```
 */
export interface RetrySettings {
  /** Total attempts, the first included (default 3). */
  attempts?: number;
  /** Base of the jittered exponential backoff in milliseconds (default 25). */
  backoffMs?: number;
  /** Largest backoff in milliseconds (default 250). */
  maxBackoffMs?: number;
  /** Overall deadline from the first attempt in milliseconds (default: the call's timeout). */
  deadline?: number;
  /**
   * Deadline of one attempt in milliseconds (default: what is left of the overall deadline). When
   * set, an attempt that times out is retried too: a request lost with a dying server is sent again
   * instead of waiting for the whole timeout.
   */
  attemptTimeout?: number;
  /** Retry every request, not only idempotent ones (default false: only GET, HEAD, OPTIONS, PUT, DELETE or with an Idempotency-Key). */
  allMethods?: boolean;
  /** Called, and awaited, before each retry's backoff. */
  onRetry?: ((event: RetryEvent & { readonly service: string }) => void | Promise<void>) | undefined;
}

/** Options of {@link CallGuard}. */
export interface CallGuardOptions {
  /** Retry policy; `false` never retries (default: 3 attempts in all, backoff from 25 ms up to 250 ms). */
  retry?: RetrySettings | false | undefined;
  /** Circuit breakers; off unless given (`{}` for the defaults). */
  breaker?: BreakerSettings | false | undefined;
  /**
   * Hedged requests (docs/TRAFFIC.md, "Hedged requests"): off unless given (`{}` for the defaults);
   * a call's `hedge` option overrides it. Only idempotent requests with a body in memory are hedged.
   */
  hedge?: ClientHedgeSettings | false | undefined;
}

/**
 * Hedging settings of a client: {@link HedgeSettings} and where its counters live.
 *
 * @example
 * ```ts
 * const fetch = createFetch({ hedge: { maxHedges: 1, quantile: 0.95, minDelayMs: 5, budgetRatio: 0.1 } });
 * ```
 */
export interface ClientHedgeSettings extends HedgeSettings {
  /** Registry of the hedging counters (default prom-client's global one). */
  registry?: Registry;
}

/** The default client retry policy: 3 attempts, 25 ms base backoff, at most 250 ms. */
export const DEFAULT_RETRY: Readonly<
  Required<Pick<RetrySettings, "attempts" | "backoffMs" | "maxBackoffMs">>
> = { attempts: 3, backoffMs: 25, maxBackoffMs: 250 };

/**
 * Whether a failed attempt may be sent again: nobody served the subject (no instance at that
 * moment), the connection closed before an answer, or the instance that took the request went
 * silent (`NM_ERR_INSTANCE_LOST`). Other failures are the service's answer.
 *
 * @param err - the attempt's error
 * @returns true for {@link NoRespondersError}, {@link ConnectionClosedError} and {@link InstanceLostError}
 * @example
 * ```ts
 * isRetryableFailure(new NoRespondersError({ service: "weather" })); // true
 * ```
 */
export function isRetryableFailure(err: unknown): boolean {
  return (
    err instanceof NoRespondersError ||
    err instanceof ConnectionClosedError ||
    // The heartbeats: the instance that took the request went silent (it died or was cut off).
    err instanceof InstanceLostError
  );
}

/**
 * Whether a failed attempt was never taken by an instance: no acknowledgement came in time (PROTOCOL.md
 * §8.4). Such a request is sent again until the call's deadline, not only as often as the attempts
 * allow: a frozen instance keeps its place in the queue group, so several tries may meet it.
 *
 * @param err - the attempt's error
 * @returns true for an {@link InstanceLostError} whose `acknowledged` is false
 * @example
 * ```ts
 * isUnacknowledged(new InstanceLostError({ service: "weather" }, 100, {}, false)); // true
 * ```
 */
export function isUnacknowledged(err: unknown): boolean {
  return err instanceof InstanceLostError && !err.acknowledged;
}

/**
 * Runs one call of a client through its retry policy and circuit breakers.
 *
 * @example
 * ```ts
 * const guard = new CallGuard({ retry: { attempts: 4 }, breaker: {} });
 * const res = await guard.run("weather", request, 30_000, undefined, (timeout, signal) =>
 *   callService(nc, "weather", request, { prefix: "mesh", timeout, signal }),
 * );
 * ```
 */
export class CallGuard {
  readonly #retry: RetrySettings | false;
  readonly #policy: RetryPolicy;
  readonly #breakers: ServiceBreakers;
  readonly #hedging: ServiceHedging;
  readonly #served = new RecentlyServed();

  /**
   * @param options - retry and breaker settings
   * @throws RangeError for attempts below 1, negative backoffs or deadlines, or bad breaker or hedge settings
   * @example
   * ```ts
   * new CallGuard({ retry: false });
   * ```
   */
  constructor(options: CallGuardOptions = {}) {
    const retry = options.retry ?? {};
    this.#retry = retry;
    this.#policy = retry === false ? NO_RETRY : { ...DEFAULT_RETRY, ...definedOnly(retry) };
    if (!Number.isInteger(this.#policy.attempts) || this.#policy.attempts < 1)
      throw new RangeError(`retry.attempts must be an integer ≥ 1, got ${this.#policy.attempts}`);
    for (const key of ["backoffMs", "maxBackoffMs", "deadline", "attemptTimeout"] as const) {
      const v = retry === false ? undefined : retry[key];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0))
        throw new RangeError(`retry.${key} must be ≥ 0, got ${v}`);
    }
    this.#breakers = new ServiceBreakers(options.breaker ?? false, CLIENT_CIRCUIT_GAUGE);
    const hedge = options.hedge;
    const registry = hedge ? hedge.registry : undefined;
    this.#hedging = new ServiceHedging(hedge, (service) => clientHedgeCounters(service, registry));
  }

  /** The circuit breaker of `service`, when breakers are enabled. */
  breakerOf(service: string): CircuitBreaker | undefined {
    return this.#breakers.of(service);
  }

  /**
   * Makes `attempt` for `request` as often as the policy allows.
   *
   * @param service - the service called
   * @param request - the request (its method and `Idempotency-Key` decide whether it is retried)
   * @param timeout - the call's deadline in milliseconds (0: none); the overall deadline by default
   * @param signal - stops retrying and waiting
   * @param attempt - one try, given its deadline in milliseconds (0: none), the signal to send
   *   it with (the caller's, or a hedged copy's own, which aborts when another copy wins) and whether
   *   a failure with `InstanceLostError` would be retried (so the attempt may give up on a silent
   *   instance early)
   * @param hedge - this call's hedging choice (default: the client's settings)
   * @returns the first answer
   * @throws {@link CircuitOpenError} when the service's circuit is open; otherwise the last attempt's error
   * @throws RangeError for impossible per-call hedge settings
   * @example
   * ```ts
   * await guard.run("weather", req, 5000, signal, (t, s) => callService(nc, "weather", req, { prefix, timeout: t, signal: s }));
   * ```
   */
  run(
    service: string,
    request: WireRequest,
    timeout: number,
    signal: AbortSignal | undefined,
    attempt: (timeout: number, signal: AbortSignal | undefined, resendable: boolean) => Promise<WireResponse>,
    hedge?: HedgeChoice,
  ): Promise<WireResponse> {
    const retry = this.#retry;
    let hedged: ReturnType<ServiceHedging["policyFor"]>;
    try {
      hedged = this.#hedging.policyFor(request, hedge);
    } catch (err) {
      return Promise.reject(err);
    }
    const overall = (retry === false ? undefined : retry.deadline) ?? timeout;
    const perAttempt = retry === false ? undefined : retry.attemptTimeout;
    const started = performance.now();
    const deadline = overall > 0 ? started + overall : Number.POSITIVE_INFINITY;
    const idempotent =
      retry !== false &&
      (retry.allMethods === true ||
        isIdempotent(request.method.toUpperCase(), headerValue(request.headers, IDEMPOTENCY_KEY)));
    let first = true;
    // No async functions here: on the request path each costs promises and microtask turns.
    const tryOnce = (): Promise<WireResponse> => {
      // The first attempt gets the whole deadline (so its TimeoutError names the caller's timeout);
      // a retry gets what is left of it.
      let t = overall > 0 ? (first ? overall : Math.max(1, Math.ceil(deadline - performance.now()))) : 0;
      first = false;
      if (perAttempt !== undefined && perAttempt > 0 && (t === 0 || perAttempt < t)) t = perAttempt;
      try {
        // A streamed body is read once: such a request is never sent again.
        const resendable = idempotent && request.stream === undefined && this.#policy.attempts > 1;
        // Hedged: each attempt is one hedged call (its copies count once in the breaker).
        if (hedged !== undefined) {
          const policy = hedged;
          return this.#breakers.call(service, () =>
            this.#hedging.run(service, policy, t, signal, (left, s) => attempt(left, s, resendable)),
          );
        }
        return this.#breakers.call(service, () => attempt(t, signal, resendable));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    const served = (res: WireResponse): WireResponse => {
      this.#served.served(service);
      return res;
    };
    const once = (): Promise<WireResponse> => tryOnce().then(served);
    if (!idempotent) return once();
    // No responders for a service that answered lately: its instances are saturated or restarting,
    // so the request waits for one until its deadline (see recently-served.ts). Read before the
    // first attempt, which may be the one to record an answer.
    const recently = this.#served.recently(service);
    // The first attempt runs outside the retry loop, which it enters only when it fails: most calls
    // succeed at once and skip the loop's promises.
    return tryOnce().then(served, (error: unknown) =>
      withRetry(
        once,
        {
          policy: this.#policy,
          retryable: (err) =>
            isRetryableFailure(err) ||
            (perAttempt !== undefined && perAttempt > 0 && err instanceof TimeoutError),
          untilDeadline: (err) =>
            this.#policy.attempts > 1 &&
            ((recently &&
              err instanceof NoRespondersError &&
              performance.now() - started < WAIT_FOR_CAPACITY_MS) ||
              (request.stream === undefined && isUnacknowledged(err))),
          deadline,
          signal,
          now: () => performance.now(),
          onRetry: retry.onRetry && ((event) => retry.onRetry?.({ ...event, service })),
        },
        { error },
      ).catch((err: unknown) => {
        // Sent again until the deadline and never acknowledged: the call timed out.
        if (request.stream === undefined && isUnacknowledged(err) && !signal?.aborted && overall > 0)
          throw new TimeoutError({ service, subject: (err as InstanceLostError).subject }, overall, {
            cause: err,
          });
        throw err;
      }),
    );
  }

  /**
   * Makes `attempt` for a request named to one instance (`fetch(url, { instance })`): the subject
   * names the instance, so no retry can move it elsewhere. No responders means that instance is
   * gone: the call fails at once with {@link NoRespondersError}, never retried or waited on. An
   * idempotent request is sent to the same instance again on a closed connection or a lost
   * exchange, within the deadline. Neither the service's circuit breaker (one instance's absence
   * says nothing about the service) nor hedging (a copy would go to the same instance) applies.
   *
   * @param service - the service called
   * @param request - the request (its method and `Idempotency-Key` decide whether it is retried)
   * @param timeout - the call's deadline in milliseconds (0: none)
   * @param signal - stops retrying and waiting
   * @param attempt - one try, as for {@link CallGuard.run}
   * @returns the instance's answer
   * @throws the last attempt's error
   * @example
   * ```ts
   * await guard.runPinned("weather", req, 5000, undefined, (t, s) =>
   *   callService(nc, "weather", req, { prefix, timeout: t, signal: s, instance: "i1" }));
   * ```
   */
  runPinned(
    service: string,
    request: WireRequest,
    timeout: number,
    signal: AbortSignal | undefined,
    attempt: (timeout: number, signal: AbortSignal | undefined, resendable: boolean) => Promise<WireResponse>,
  ): Promise<WireResponse> {
    const retry = this.#retry;
    const overall = (retry === false ? undefined : retry.deadline) ?? timeout;
    const started = performance.now();
    const deadline = overall > 0 ? started + overall : Number.POSITIVE_INFINITY;
    const idempotent =
      retry !== false &&
      this.#policy.attempts > 1 &&
      (retry.allMethods === true ||
        isIdempotent(request.method.toUpperCase(), headerValue(request.headers, IDEMPOTENCY_KEY)));
    const resendable = idempotent && request.stream === undefined;
    let first = true;
    const once = (): Promise<WireResponse> => {
      const t = overall > 0 ? (first ? overall : Math.max(1, Math.ceil(deadline - performance.now()))) : 0;
      first = false;
      try {
        return attempt(t, signal, resendable);
      } catch (err) {
        return Promise.reject(err);
      }
    };
    if (!resendable) return once();
    const onRetry = retry.onRetry;
    return once().catch((error: unknown) =>
      withRetry(
        once,
        {
          policy: this.#policy,
          retryable: (err) => err instanceof ConnectionClosedError || err instanceof InstanceLostError,
          untilDeadline: () => false,
          deadline,
          signal,
          now: () => performance.now(),
          onRetry: onRetry && ((event) => onRetry({ ...event, service })),
        },
        { error },
      ),
    );
  }
}

function definedOnly(settings: RetrySettings): Partial<RetryPolicy> {
  const out: { -readonly [K in keyof RetryPolicy]?: number } = {};
  if (settings.attempts !== undefined) out.attempts = settings.attempts;
  if (settings.backoffMs !== undefined) out.backoffMs = settings.backoffMs;
  if (settings.maxBackoffMs !== undefined) out.maxBackoffMs = settings.maxBackoffMs;
  return out;
}
