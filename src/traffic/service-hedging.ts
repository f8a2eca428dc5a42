/**
 * The hedging state of one client or gateway: per service (per route and service in the gateway)
 * its recent answer times and its budget, created on first use; and the decision, per call, of
 * whether and how it is hedged.
 *
 * @module
 */
import type { WireRequest, WireResponse } from "../protocol/index.js";
import { HedgeBudget } from "./hedge-budget.js";
import {
  type HedgeBudgetPolicy,
  type HedgeCallSettings,
  type HedgePolicy,
  type HedgeSettings,
  hedgeBudgetPolicy,
  hedgeDelay,
  hedgePolicy,
  isHedgeable,
} from "./hedge-policy.js";
import { type HedgeObserver, hedgedCall } from "./hedged-call.js";
import { LatencyWindow } from "./latency-window.js";

/**
 * A call's own choice: `false` never hedges it, `true` hedges it with the client's settings.
 *
 * @example
 * ```ts
 * await fetch("http://search/q?term=oat", { hedge: false }); // true, false or HedgeCallSettings
 * ```
 */
export type HedgeChoice = boolean | HedgeCallSettings;

interface ServiceState {
  readonly window: LatencyWindow;
  readonly budget: HedgeBudget;
  readonly observer: HedgeObserver;
}

/**
 * Hedged requests of one client or gateway. Off unless settings are given; a call may still turn
 * it on (`true` or its own settings) or off (`false`).
 *
 * @example
 * ```ts
 * const hedging = new ServiceHedging({ maxDelayMs: 500 }, (service) => hedgeCounters(service));
 * const res = await hedging.run("weather", request, 5000, signal, undefined, (t, s) =>
 *   callService(nc, "weather", request, { prefix, timeout: t, signal: s }),
 * );
 * ```
 */
export class ServiceHedging {
  readonly #policy: HedgePolicy | undefined;
  readonly #base: HedgePolicy;
  readonly #budget: HedgeBudgetPolicy;
  readonly #observe: (key: string) => HedgeObserver;
  readonly #services = new Map<string, ServiceState>();

  /**
   * @param settings - the settings, or `false`/`undefined` for off unless a call asks
   * @param observe - the counters of a key (a service, or the gateway's route and service)
   * @throws RangeError for impossible settings (checked here rather than on the first call)
   */
  constructor(settings: HedgeSettings | false | undefined, observe: (key: string) => HedgeObserver) {
    this.#policy = settings ? hedgePolicy(settings) : undefined;
    this.#base = this.#policy ?? hedgePolicy({});
    this.#budget = hedgeBudgetPolicy(settings || {});
    this.#observe = observe;
  }

  /** Whether calls are hedged unless they say otherwise. */
  get enabled(): boolean {
    return this.#policy !== undefined;
  }

  /**
   * The policy a call is hedged with, or `undefined` when it is not hedged: hedging is off (for the
   * client, or by the call's `false`), or the request is not idempotent or streams its body.
   *
   * @param request - the request
   * @param choice - the call's own choice, if any
   * @returns the policy, or undefined
   * @throws RangeError for impossible per-call settings
   */
  policyFor(request: WireRequest, choice: HedgeChoice | undefined): HedgePolicy | undefined {
    if (choice === false || (choice === undefined && this.#policy === undefined)) return undefined;
    if (!isHedgeable(request)) return undefined;
    if (choice === undefined || choice === true) return this.#base;
    return hedgePolicy(choice, this.#base);
  }

  /**
   * Runs one call hedged with `policy` (from {@link ServiceHedging.policyFor}): counts it in the
   * budget of `key`, waits the delay derived from `key`'s answer times, and records the winner's.
   *
   * @param key - the service (the gateway: route and service)
   * @param policy - the call's policy
   * @param timeout - the call's deadline in ms (0: none)
   * @param signal - the caller's signal
   * @param attempt - sends one copy
   * @returns the first answer
   * @throws the first request's error when every copy failed
   */
  run(
    key: string,
    policy: HedgePolicy,
    timeout: number,
    signal: AbortSignal | undefined,
    attempt: (timeout: number, signal: AbortSignal) => Promise<WireResponse>,
  ): Promise<WireResponse> {
    const state = this.#state(key);
    state.budget.deposit();
    return hedgedCall(attempt, {
      delay: hedgeDelay(policy, state.window),
      maxHedges: policy.maxHedges,
      timeout,
      signal,
      take: () => state.budget.take(),
      answered: (ms) => state.window.record(ms),
      observer: state.observer,
    });
  }

  #state(key: string): ServiceState {
    let state = this.#services.get(key);
    if (state === undefined) {
      const b = this.#budget;
      state = {
        window: new LatencyWindow(b.samples),
        budget: new HedgeBudget(b.budgetRatio, b.budgetBurst),
        observer: this.#observe(key),
      };
      this.#services.set(key, state);
    }
    return state;
  }
}
