/**
 * Traffic management and resilience: the retry policy shared by the client and the gateway,
 * hedged requests' settings, circuit breakers, and canary and fault-injection subject mappings (the fault responder itself is
 * `natsmesh/fault`). See docs/TRAFFIC.md.
 *
 * @example
 * ```ts
 * import { canaryMapping, renderMappings } from "natsmesh/traffic";
 * console.log(renderMappings([canaryMapping({ service: "weather", splits: [{ prefix: "v1", weight: 90 }, { prefix: "v2", weight: 10 }] })]));
 * ```
 *
 * @module
 */
export {
  type BreakerOptions,
  type BreakerPermit,
  CircuitBreaker,
  CircuitOpenError,
  CircuitState,
} from "./breaker.js";
export type { ClientHedgeSettings, RetrySettings } from "./call-guard.js";
export type { HedgeCallSettings, HedgeSettings } from "./hedge-policy.js";
export { IDEMPOTENCY_KEY, IDEMPOTENT_METHODS, isIdempotent } from "./idempotency.js";
export {
  type CanaryMapping,
  type CanaryOptions,
  type CanarySplit,
  canaryMapping,
  DEFAULT_FAULT_PREFIX,
  type FaultSplit,
  type MappingDestination,
  MappingError,
  mergeMappingsFile,
  renderMappings,
} from "./mappings.js";
export {
  backoffDelay,
  NO_RETRY,
  type RetryEvent,
  type RetryOptions,
  type RetryPolicy,
  withRetry,
} from "./retry.js";
export type { BreakerSettings } from "./service-breakers.js";
export type { HedgeChoice } from "./service-hedging.js";
