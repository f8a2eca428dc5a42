/**
 * Gateway route policies: CORS, rate limiting and authentication (JWT or an API hook), and
 * {@link buildPolicies}, which validates a route's policy blocks and builds them in order.
 *
 * @module
 */
export { AUTH_HOOK_FAILED, type AuthHookOptions, authHook } from "./auth-hook.js";
export { type BuildPoliciesOptions, buildPolicies, type PolicyConfig } from "./build-policies.js";
export { cors } from "./cors.js";
export { CORS_KEYS, type CorsOptions, DEFAULT_CORS_METHODS } from "./cors-settings.js";
export { JWT_AUTH_KEYS, type JwtAuthOptions, jwtAuth } from "./jwt-auth.js";
export { HMAC_ALGORITHMS, MIN_SECRET_BYTES, PUBLIC_KEY_ALGORITHMS } from "./jwt-verifier.js";
export { PolicyConfigError } from "./policy-config-error.js";
export {
  DEFAULT_MAX_KEYS,
  RATE_LIMIT_KEYS,
  RATE_LIMIT_PERIODS,
  type RateLimitKey,
  type RateLimitOptions,
  rateLimit,
} from "./rate-limit.js";
export type {
  AuthHook,
  Continue,
  HeaderPairs,
  Policy,
  PolicyDecision,
  PolicyRequest,
  Respond,
} from "./types.js";
