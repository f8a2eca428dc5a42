/**
 * The gateway: the HTTP(S) front door that routes public traffic to services over NATS. HTTP/1.1,
 * and HTTPS with HTTP/2 and HTTP/1.1 negotiated by ALPN; routes by host, path prefix and a default
 * `/<service>/<rest>` rule; per-route timeouts, retries, body limits and policies (CORS, rate limit,
 * auth); an admin port with `/healthz`, `/readyz` and `/metrics`. See docs/GATEWAY.md.
 *
 * @example
 * ```ts
 * import { createGateway } from "natsmesh/gateway";
 * await using gateway = createGateway({ configFile: "gateway.yaml" });
 * console.log((await gateway.listen()).url);
 * ```
 *
 * @module
 */

export {
  backoffDelay,
  NO_RETRY,
  type RetryEvent,
  type RetryOptions,
  type RetryPolicy,
  withRetry,
} from "../traffic/retry.js";
export type {
  BreakerConfig,
  EjectSettings,
  GatewayConfig,
  HedgeConfig,
  LimitsConfig,
  RetryConfig,
  RouteConfig,
  RouteSettings,
  TlsConfig,
} from "./config/config-types.js";
export type { HostPort } from "./config/host-port.js";
export type { WorkersSetting } from "./config/workers-setting.js";
export {
  BadRequestError,
  BodyTooLargeError,
  GatewayConfigError,
  GatewayErrorCode,
  GatewayWorkerError,
  type GatewayWorkerErrorOptions,
  NoRouteError,
  RequestTimeoutError,
} from "./errors.js";
export type { GatewayRetryEvent, GatewayRetryHook } from "./front-door/request-handler.js";
export {
  createGateway,
  type Gateway,
  type GatewayAddresses,
  type GatewayOptions,
} from "./gateway.js";
export {
  type AuthHook,
  type BuildPoliciesOptions,
  buildPolicies,
  type Continue,
  type CorsOptions,
  cors,
  type HeaderPairs,
  type JwtAuthOptions,
  jwtAuth,
  type Policy,
  type PolicyConfig,
  PolicyConfigError,
  type PolicyDecision,
  type PolicyRequest,
  type RateLimitKey,
  type RateLimitOptions,
  type Respond,
  rateLimit,
} from "./policies/index.js";
export {
  createGatewayCluster,
  type GatewayCluster,
  type GatewayClusterAddresses,
  type GatewayClusterOptions,
} from "./workers/gateway-cluster.js";
