/**
 * When a call is hedged, and after how long: the settings of hedged requests, their defaults and
 * checks, the eligibility rule (idempotent, body in memory) and the delay derived from a service's
 * recent answer times. Pure.
 *
 * @module
 */
import { headerValue, type WireRequest } from "../protocol/index.js";
import { IDEMPOTENCY_KEY, isIdempotent } from "./idempotency.js";
import { DEFAULT_LATENCY_SAMPLES, type LatencyWindow } from "./latency-window.js";

/**
 * What may change per call (`fetch(url, { hedge: { ... } })`) or per gateway route.
 *
 * @example
 * ```ts
 * await fetch("http://search/q?term=oat", { hedge: { maxHedges: 2, minDelayMs: 10, maxDelayMs: 200 } });
 * ```
 */
export interface HedgeCallSettings {
  /** Extra copies of one call at most, 1 to 5 (default 1). */
  maxHedges?: number;
  /**
   * Quantile of the service's recent answer times after which a copy is sent, in (0, 1)
   * (default 0.95: a call slower than 95% of its service's answers).
   */
  quantile?: number;
  /** The delay is never below this, in ms (default 10). */
  minDelayMs?: number;
  /**
   * The delay is never above this, in ms (default 1000); it is also the delay while fewer than
   * 20 answers of the service were seen.
   */
  maxDelayMs?: number;
}

/**
 * Hedging settings of a client (`createFetch({ hedge })`, `MeshDispatcher`) or a gateway route.
 *
 * @example
 * ```ts
 * const hedge: HedgeSettings = { maxHedges: 1, quantile: 0.9, samples: 200, budgetRatio: 0.05 };
 * const fetch = createFetch({ hedge });
 * ```
 */
export interface HedgeSettings extends HedgeCallSettings {
  /** Answer times kept per service, from which the quantile is taken (default 200). */
  samples?: number;
  /**
   * Share of a service's calls that may be hedged, in [0, 1] (default 0.1): each call adds that
   * much of a token to the service's budget, each hedge takes one.
   */
  budgetRatio?: number;
  /** Tokens the budget holds at most, and starts with, ≥ 1 (default 5). */
  budgetBurst?: number;
}

/** A call's settings, checked and with defaults filled in. */
export interface HedgePolicy {
  readonly maxHedges: number;
  readonly quantile: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

/** The service-wide part of the settings, checked. */
export interface HedgeBudgetPolicy {
  readonly samples: number;
  readonly budgetRatio: number;
  readonly budgetBurst: number;
}

/** Default settings: one copy after the service's p95 (10 ms to 1 s), at most 10% of calls. */
export const DEFAULT_HEDGE: Readonly<Required<HedgeSettings>> = {
  maxHedges: 1,
  quantile: 0.95,
  minDelayMs: 10,
  maxDelayMs: 1000,
  samples: DEFAULT_LATENCY_SAMPLES,
  budgetRatio: 0.1,
  budgetBurst: 5,
};

/** Answers of a service seen before its quantile is trusted; until then the delay is `maxDelayMs`. */
export const MIN_LATENCY_SAMPLES = 20;

/**
 * Checks `settings` over `base` and fills in what they leave out.
 *
 * @param settings - the call's, route's or client's settings
 * @param base - what they override (default {@link DEFAULT_HEDGE})
 * @returns the policy
 * @throws RangeError naming the setting, e.g. `hedge.maxHedges must be an integer from 1 to 5, got 9`
 * @example
 * ```ts
 * hedgePolicy({ maxDelayMs: 200 }); // { maxHedges: 1, quantile: 0.95, minDelayMs: 10, maxDelayMs: 200 }
 * ```
 */
export function hedgePolicy(settings: HedgeCallSettings, base: HedgePolicy = DEFAULT_HEDGE): HedgePolicy {
  const p = {
    maxHedges: settings.maxHedges ?? base.maxHedges,
    quantile: settings.quantile ?? base.quantile,
    minDelayMs: settings.minDelayMs ?? base.minDelayMs,
    maxDelayMs: settings.maxDelayMs ?? base.maxDelayMs,
  };
  if (!Number.isInteger(p.maxHedges) || p.maxHedges < 1 || p.maxHedges > 5)
    throw new RangeError(`hedge.maxHedges must be an integer from 1 to 5, got ${p.maxHedges}`);
  if (!(p.quantile > 0 && p.quantile < 1))
    throw new RangeError(`hedge.quantile must be a number above 0 and below 1, got ${p.quantile}`);
  for (const key of ["minDelayMs", "maxDelayMs"] as const) {
    const v = p[key];
    if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`hedge.${key} must be a number ≥ 0, got ${v}`);
  }
  if (p.maxDelayMs < p.minDelayMs)
    throw new RangeError(
      `hedge.maxDelayMs (${p.maxDelayMs}) must not be below hedge.minDelayMs (${p.minDelayMs})`,
    );
  return p;
}

/**
 * Checks the service-wide settings (samples and budget) and fills in defaults.
 *
 * @param settings - the client's or route's settings
 * @returns the checked values
 * @throws RangeError naming the setting
 * @example
 * ```ts
 * hedgeBudgetPolicy({ budgetRatio: 0.05 }); // { samples: 200, budgetRatio: 0.05, budgetBurst: 5 }
 * ```
 */
export function hedgeBudgetPolicy(settings: HedgeSettings): HedgeBudgetPolicy {
  const p = {
    samples: settings.samples ?? DEFAULT_HEDGE.samples,
    budgetRatio: settings.budgetRatio ?? DEFAULT_HEDGE.budgetRatio,
    budgetBurst: settings.budgetBurst ?? DEFAULT_HEDGE.budgetBurst,
  };
  if (!Number.isInteger(p.samples) || p.samples < MIN_LATENCY_SAMPLES || p.samples > 10_000)
    throw new RangeError(
      `hedge.samples must be an integer from ${MIN_LATENCY_SAMPLES} to 10000, got ${p.samples}`,
    );
  if (!(p.budgetRatio >= 0 && p.budgetRatio <= 1))
    throw new RangeError(`hedge.budgetRatio must be a number from 0 to 1, got ${p.budgetRatio}`);
  if (!(Number.isFinite(p.budgetBurst) && p.budgetBurst >= 1))
    throw new RangeError(`hedge.budgetBurst must be a number ≥ 1, got ${p.budgetBurst}`);
  return p;
}

/**
 * Whether a request may be hedged: it must be idempotent (GET, HEAD, OPTIONS, PUT, DELETE, or with
 * an `Idempotency-Key`; no setting widens this) and its body must be in memory (a streamed body is
 * read once and cannot be sent twice).
 *
 * @param request - the request
 * @returns true when a copy may be sent
 * @example
 * ```ts
 * isHedgeable({ method: "POST", path: "/", headers: [], body: new Uint8Array() }); // false
 * ```
 */
export function isHedgeable(request: WireRequest): boolean {
  return (
    request.stream === undefined &&
    isIdempotent(request.method.toUpperCase(), headerValue(request.headers, IDEMPOTENCY_KEY))
  );
}

/**
 * How long a call waits for its answer before a copy is sent: the policy's quantile of the
 * service's recent answer times, within `[minDelayMs, maxDelayMs]`; `maxDelayMs` while fewer than
 * {@link MIN_LATENCY_SAMPLES} answers were seen.
 *
 * @param policy - the call's policy
 * @param window - the service's recent answer times
 * @returns milliseconds, a whole number
 * @example
 * ```ts
 * hedgeDelay(hedgePolicy({}), window); // e.g. 37 for a service whose p95 is 36.4 ms
 * ```
 */
export function hedgeDelay(policy: HedgePolicy, window: LatencyWindow): number {
  const q = window.count >= MIN_LATENCY_SAMPLES ? window.quantile(policy.quantile) : undefined;
  const ms =
    q === undefined ? policy.maxDelayMs : Math.min(policy.maxDelayMs, Math.max(policy.minDelayMs, q));
  return Math.ceil(ms);
}
