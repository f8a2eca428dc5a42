/**
 * The contract between the gateway and its per-route policies (CORS, rate limiting, authentication).
 * A policy looks at a public request before anything is sent over NATS and either lets it continue
 * (optionally adding response headers and request headers to forward) or answers it itself.
 */
import type { IncomingHttpHeaders } from "node:http";

/** What a policy sees of a public request. */
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

/** Header pairs, in order; a name may repeat. */
export type HeaderPairs = Array<[name: string, value: string]>;

/** The request goes on to the service. */
export interface Continue {
  /** The request goes on. */
  action: "continue";
  /** Headers to add to the response the caller gets (e.g. CORS, RateLimit-*). */
  responseHeaders?: HeaderPairs;
  /** Headers to add to the request sent to the service (e.g. the verified subject of a token). */
  forwardHeaders?: HeaderPairs;
}

/** The policy answers the request itself; nothing is sent over NATS. */
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

/** A policy's verdict. */
export type PolicyDecision = Continue | Respond;

/** A per-route policy. */
export interface Policy {
  /** Name for logs and metrics: `cors`, `rate-limit`, `auth`. */
  readonly name: string;
  /** Decides on one request. Must not throw for bad input: answer it instead. */
  check(req: PolicyRequest): PolicyDecision | Promise<PolicyDecision>;
}

/** An authentication hook given in the API: the same contract as a policy's `check`. */
export type AuthHook = (req: PolicyRequest) => PolicyDecision | Promise<PolicyDecision>;
