/**
 * The contract between the gateway and its per-route policies (CORS, rate limiting, authentication).
 * A policy looks at a public request before anything is sent over NATS and either lets it continue
 * (optionally adding response headers and request headers to forward) or answers it itself.
 */
import type { IncomingHttpHeaders } from "node:http";

/**
 * What a policy sees of a public request.
 *
 * @example
 * ```ts
 * const auth: AuthHook = (req) =>
 *   req.headers["x-api-key"] === process.env.API_KEY
 *     ? { action: "continue" }
 *     : { action: "respond", status: 401, message: `no key for ${req.method} ${req.path} (${req.clientIp})` };
 * ```
 */
export interface PolicyRequest {
  /** HTTP method, upper-case. */
  method: string;
  /** Path with query string, as received. */
  path: string;
  /** Request headers (lower-case names, Node's joining rules). */
  headers: IncomingHttpHeaders;
  /** The peer's IP address (the socket's; the gateway resolves trusted proxies before policies run). */
  clientIp: string;
  /** Name of the matched route. */
  route: string;
}

/**
 * Header pairs, in order; a name may repeat.
 *
 * @example
 * ```ts
 * const forwardHeaders: HeaderPairs = [["x-user-id", "u123"], ["x-tenant", "acme"]];
 * const decision: Continue = { action: "continue", forwardHeaders };
 * ```
 */
export type HeaderPairs = Array<[name: string, value: string]>;

/**
 * The request goes on to the service.
 *
 * @example
 * ```ts
 * const decision: Continue = { action: "continue", forwardHeaders: [["x-user-id", "u123"]] };
 * ```
 */
export interface Continue {
  /** The request goes on. */
  action: "continue";
  /** Headers to add to the response the caller gets (e.g. CORS, RateLimit-*). */
  responseHeaders?: HeaderPairs;
  /** Headers to add to the request sent to the service (e.g. the verified subject of a token). */
  forwardHeaders?: HeaderPairs;
}

/**
 * The policy answers the request itself; nothing is sent over NATS.
 *
 * @example
 * ```ts
 * const decision: Respond = { action: "respond", status: 403, message: "tenant suspended", code: "TENANT_SUSPENDED" };
 * ```
 */
export interface Respond {
  /** The policy answers. */
  action: "respond";
  /** HTTP status, e.g. 204 (preflight), 401, 403, 429. */
  status: number;
  /** Response headers. */
  headers?: HeaderPairs;
  /** Short message for the JSON error body (the gateway adds code, status and request id); omit for no body. */
  message?: string;
  /** Stable code for the JSON error body, e.g. `NM_ERR_RATE_LIMITED`. */
  code?: string;
}

/**
 * A policy's verdict.
 *
 * @example
 * ```ts
 * const decide = (ok: boolean): PolicyDecision => (ok ? { action: "continue" } : { action: "respond", status: 401 });
 * ```
 */
export type PolicyDecision = Continue | Respond;

/**
 * A per-route policy.
 *
 * @example
 * ```ts
 * const maintenance: Policy = {
 *   name: "maintenance",
 *   check: () => ({ action: "respond", status: 503, headers: [["retry-after", "60"]], message: "down for maintenance" }),
 * };
 * ```
 */
export interface Policy {
  /** Name for logs and metrics: `cors`, `rate-limit`, `auth`. */
  readonly name: string;
  /** Decides on one request. Must not throw for bad input: answer it instead. */
  check(req: PolicyRequest): PolicyDecision | Promise<PolicyDecision>;
}

/**
 * An authentication hook given in the API: the same contract as a policy's `check`.
 *
 * @example
 * ```ts
 * const auth: AuthHook = async (req) => {
 *   const user = await sessions.lookup(req.headers.cookie);
 *   return user ? { action: "continue", forwardHeaders: [["x-user-id", user.id]] } : { action: "respond", status: 401 };
 * };
 * createGateway({ configFile: "gateway.yaml", auth });
 * ```
 */
export type AuthHook = (req: PolicyRequest) => PolicyDecision | Promise<PolicyDecision>;
