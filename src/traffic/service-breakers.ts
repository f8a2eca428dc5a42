/**
 * One circuit breaker per service, around calls that answer with a `WireResponse`; shared by the
 * client's {@link CallGuard} and the gateway.
 *
 * @module
 */
import type { Registry } from "prom-client";
import { MeshError, type WireResponse } from "../protocol/index.js";
import { type BreakerOptions, CircuitBreaker, CircuitOpenError, type CircuitState } from "./breaker.js";
import { CLIENT_CIRCUIT_GAUGE, circuitGauge } from "./breaker-metrics.js";

/**
 * Circuit breaker settings: one breaker per service.
 *
 * @example
 * ```ts
 * const fetch = createFetch({
 *   breaker: {
 *     failureRatio: 0.5,
 *     minimumCalls: 20,
 *     openMs: 10_000,
 *     onStateChange: (service, state) => console.warn(`${service}: circuit ${state}`),
 *   },
 * });
 * ```
 */
export interface BreakerSettings extends Omit<BreakerOptions, "onStateChange"> {
  /** Registry of the circuit-state gauge (default prom-client's global one; the gateway uses its own). */
  registry?: Registry;
  /** Told of every state change of a service's circuit. */
  onStateChange?: ((service: string, state: CircuitState) => void) | undefined;
}

/** Failures that say a service is unhealthy: typed 5xx errors, but not a refused circuit. */
function isServiceFailure(err: unknown): boolean {
  return err instanceof MeshError && err.status >= 500 && !(err instanceof CircuitOpenError);
}

/** Answers that say a service is unhealthy: 502, 503, 504. */
function isFailedAnswer(res: WireResponse): boolean {
  return res.status >= 502 && res.status <= 504;
}

/**
 * The circuit breakers of one client or gateway, one per service, created on first use. Disabled
 * (`false`), {@link ServiceBreakers.call} just runs the call.
 *
 * @example
 * ```ts
 * const breakers = new ServiceBreakers({ failureRatio: 0.5, openMs: 5000 });
 * const res = await breakers.call("weather", () => callService(nc, "weather", req, opts));
 * ```
 */
export class ServiceBreakers {
  readonly #settings: BreakerSettings | false;
  readonly #breakers = new Map<string, CircuitBreaker>();
  readonly #report: ((service: string, state: CircuitState) => void) | undefined;

  /**
   * @param settings - breaker settings, or `false` for none
   * @param gauge - name of the circuit-state gauge (default {@link CLIENT_CIRCUIT_GAUGE})
   * @throws RangeError for impossible settings (checked here rather than on the first call)
   * @example
   * ```ts
   * new ServiceBreakers({}, GATEWAY_CIRCUIT_GAUGE);
   * ```
   */
  constructor(settings: BreakerSettings | false, gauge: string = CLIENT_CIRCUIT_GAUGE) {
    this.#settings = settings;
    if (settings) {
      new CircuitBreaker({ ...settings, onStateChange: undefined });
      this.#report = circuitGauge(settings.registry, gauge);
    }
  }

  /** Whether breakers are enabled. */
  get enabled(): boolean {
    return this.#settings !== false;
  }

  /**
   * The breaker of `service`, created on first use; undefined when disabled.
   *
   * @param service - the service
   * @returns its breaker
   * @example
   * ```ts
   * breakers.of("weather")?.state; // CircuitState.Closed
   * ```
   */
  of(service: string): CircuitBreaker | undefined {
    const settings = this.#settings;
    if (!settings) return undefined;
    let breaker = this.#breakers.get(service);
    if (!breaker) {
      breaker = new CircuitBreaker({
        ...settings,
        onStateChange: (state) => {
          this.#report?.(service, state);
          settings.onStateChange?.(service, state);
        },
      });
      this.#breakers.set(service, breaker);
      this.#report?.(service, breaker.state);
    }
    return breaker;
  }

  /**
   * Runs `call` if `service`'s circuit lets it through, and counts its outcome: typed 5xx errors
   * and 502/503/504 answers are failures; other answers successes; other errors (an abort) neither.
   *
   * @param service - the service called
   * @param call - the call
   * @returns the call's answer
   * @throws {@link CircuitOpenError} (503) at once when the circuit is open; otherwise what `call` throws
   * @example
   * ```ts
   * await breakers.call("weather", () => callService(nc, "weather", req, opts));
   * ```
   */
  call(service: string, call: () => Promise<WireResponse>): Promise<WireResponse> {
    const breaker = this.of(service);
    // Disabled: no extra promise on the request path.
    return breaker ? this.#guarded(service, breaker, call) : call();
  }

  async #guarded(
    service: string,
    breaker: CircuitBreaker,
    call: () => Promise<WireResponse>,
  ): Promise<WireResponse> {
    const permit = breaker.acquire();
    if (!permit) throw new CircuitOpenError({ service }, breaker.retryAfter());
    try {
      const res = await call();
      if (isFailedAnswer(res)) permit.failure();
      else permit.success();
      return res;
    } catch (err) {
      if (isServiceFailure(err)) permit.failure();
      else permit.release();
      throw err;
    }
  }
}
