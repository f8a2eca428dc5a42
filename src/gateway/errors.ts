/**
 * Typed errors of the gateway and its codes. Each carries the HTTP status the gateway answers with
 * and a stable code.
 *
 * @module
 */
import { brandError, ErrorCode, MeshError } from "../protocol/index.js";

/**
 * Stable codes of the gateway's own answers and errors, beside {@link ErrorCode}: the gateway sends
 * them in the `mesh-error` header of the answers it makes itself (docs/GATEWAY.md).
 *
 * @example
 * ```ts
 * const res = await fetch("https://api.example.com/api/weather/city");
 * if (res.headers.get("mesh-error") === GatewayErrorCode.RateLimited) console.log("slow down");
 * ```
 */
export const GatewayErrorCode = {
  /** The gateway configuration, or a route's policy configuration (CORS, rate limit, auth), is invalid (500). */
  GatewayConfig: "NM_ERR_GATEWAY_CONFIG",
  /** The gateway refused a request without valid credentials (401). */
  Unauthorized: "NM_ERR_UNAUTHORIZED",
  /** The gateway refused a request over the route's rate limit (429). */
  RateLimited: "NM_ERR_RATE_LIMITED",
  /** The gateway refused a CORS preflight: origin or method not allowed (403). */
  CorsRejected: "NM_ERR_CORS_REJECTED",
  /** A policy (an auth hook) refused the request without naming a code; the status is the policy's. */
  Policy: "NM_ERR_POLICY",
  /** The gateway has no route for the request's host and path (404). */
  NoRoute: "NM_ERR_NO_ROUTE",
  /** The request body exceeds the gateway route's `maxBody` (413). */
  BodyTooLarge: "NM_ERR_BODY_TOO_LARGE",
  /** The gateway refused a malformed public request: bad target, method or header (400). */
  BadRequest: "NM_ERR_BAD_REQUEST",
  /** The client did not send the whole request within the gateway's `requestTimeout` (408). */
  RequestTimeout: "NM_ERR_REQUEST_TIMEOUT",
  /** An unexpected failure inside the gateway (500); the details stay in its log. */
  Internal: "NM_ERR_INTERNAL",
} as const;
export type GatewayErrorCode = (typeof GatewayErrorCode)[keyof typeof GatewayErrorCode];

/**
 * No route matches the request's host and path (and the default rule did not apply). Maps to 404.
 *
 * @example
 * ```ts
 * throw new NoRouteError("GET", "/nowhere");
 * ```
 */
export class NoRouteError extends MeshError {
  static {
    brandError(NoRouteError, "NoRouteError");
  }

  /**
   * @param method - the request method
   * @param path - the request path, without its query
   * @example
   * ```ts
   * new NoRouteError("GET", "/x").status; // 404
   * ```
   */
  constructor(method: string, path: string) {
    super(GatewayErrorCode.NoRoute, 404, `no route for ${method} ${path}`);
  }
}

/**
 * The request body is larger than the route's `maxBody`. Maps to 413.
 *
 * @example
 * ```ts
 * throw new BodyTooLargeError(1024);
 * ```
 */
export class BodyTooLargeError extends MeshError {
  static {
    brandError(BodyTooLargeError, "BodyTooLargeError");
  }

  /** The route's limit, in bytes. */
  readonly limit: number;

  /**
   * @param limit - the route's limit, in bytes
   * @example
   * ```ts
   * new BodyTooLargeError(65_536).message; // "request body exceeds the limit of 65536 bytes"
   * ```
   */
  constructor(limit: number) {
    super(GatewayErrorCode.BodyTooLarge, 413, `request body exceeds the limit of ${limit} bytes`);
    this.limit = limit;
  }
}

/**
 * A malformed public request: a request target that is not a path, a bad percent-encoding, a method
 * that cannot name a subject, a header the wire cannot carry. Maps to 400. The message is shown to
 * the caller, so it only describes the caller's own input.
 *
 * @example
 * ```ts
 * throw new BadRequestError("request target must start with '/'");
 * ```
 */
export class BadRequestError extends MeshError {
  static {
    brandError(BadRequestError, "BadRequestError");
  }

  /**
   * @param message - what is wrong with the request, safe to show the caller
   * @example
   * ```ts
   * new BadRequestError("bad percent-encoding in path").status; // 400
   * ```
   */
  constructor(message: string) {
    super(GatewayErrorCode.BadRequest, 400, message);
  }
}

/**
 * The client did not send the whole request (its body) within the gateway's `requestTimeout`.
 * Maps to 408.
 *
 * @example
 * ```ts
 * throw new RequestTimeoutError(30_000);
 * ```
 */
export class RequestTimeoutError extends MeshError {
  static {
    brandError(RequestTimeoutError, "RequestTimeoutError");
  }

  /**
   * @param timeout - the limit that passed, in milliseconds
   * @example
   * ```ts
   * new RequestTimeoutError(30_000).status; // 408
   * ```
   */
  constructor(timeout: number) {
    super(GatewayErrorCode.RequestTimeout, 408, `request not received within ${timeout} ms`);
  }
}

/**
 * The gateway configuration (file, flags or options) is invalid. Raised before anything listens.
 * The message names the source, the place in it and the problem, e.g.
 * `gateway.yaml: routes[2] (name 'billing'): service 'Bad Name' is not a valid service name`.
 *
 * @example
 * ```ts
 * try { createGateway({ configFile: "gateway.yaml" }); }
 * catch (err) { if (err instanceof GatewayConfigError) console.error(err.message); }
 * ```
 */
export class GatewayConfigError extends MeshError {
  static {
    brandError(GatewayConfigError, "GatewayConfigError");
  }

  /** Where the problem is, e.g. `gateway.yaml: routes[2] (name 'billing')`. */
  readonly where: string;
  /** What is wrong, e.g. `service 'Bad Name' is not a valid service name`. */
  readonly problem: string;

  /**
   * @param where - the source and the place in it
   * @param problem - what is wrong
   * @param options - the underlying cause, if any
   * @example
   * ```ts
   * new GatewayConfigError("gateway.yaml: limits", "maxConnections must be a positive integer");
   * ```
   */
  constructor(where: string, problem: string, options: { cause?: unknown } = {}) {
    super(GatewayErrorCode.GatewayConfig, 500, `${where}: ${problem}`, options);
    this.where = where;
    this.problem = problem;
  }
}

/**
 * What a worker process reports of the error that stopped it, and where it came from.
 *
 * @example
 * ```ts
 * try {
 *   await createGatewayCluster({ workers: 2 }).listen();
 * } catch (err) {
 *   if (err instanceof GatewayWorkerError) console.error(err.worker, err.pid, err.errorName, err.message);
 * }
 * ```
 */
export interface GatewayWorkerErrorOptions {
  /** The worker's number, from 1. */
  worker: number;
  /** The worker's process id, if it started. */
  pid: number | undefined;
  /** The error's `name` in the worker, e.g. `ConnectError`. */
  errorName: string;
  /** The error's `code` in the worker, when it was a natsmesh error. */
  code?: string | undefined;
  /** The error's `status` in the worker, when it was a natsmesh error. */
  status?: number | undefined;
}

const KNOWN_CODES = new Set<string>([...Object.values(ErrorCode), ...Object.values(GatewayErrorCode)]);

/**
 * A gateway worker process failed to start (NATS unreachable, a TLS file unreadable, the port taken)
 * or exited before it listened. The message is the worker's own (`cannot connect to NATS at ...`),
 * so the CLI reports the same line as a gateway in one process.
 *
 * @example
 * ```ts
 * try { await cluster.listen(); }
 * catch (err) { if (err instanceof GatewayWorkerError) console.error(err.worker, err.errorName, err.message); }
 * ```
 */
export class GatewayWorkerError extends MeshError {
  static {
    brandError(GatewayWorkerError, "GatewayWorkerError");
  }

  /** The worker's number, from 1. */
  readonly worker: number;
  /** The worker's process id, if it started. */
  readonly pid: number | undefined;
  /** The error's `name` in the worker. */
  readonly errorName: string;

  /**
   * @param message - what went wrong, as the worker said it
   * @param options - which worker, and the error's name, code and status there
   * @example
   * ```ts
   * new GatewayWorkerError("cannot connect to NATS at nats://127.0.0.1:4999: connection refused",
   *   { worker: 1, pid: 4242, errorName: "ConnectError", code: "NM_ERR_CONNECT", status: 503 });
   * ```
   */
  constructor(message: string, options: GatewayWorkerErrorOptions) {
    const code = options.code !== undefined && KNOWN_CODES.has(options.code) ? options.code : undefined;
    super(code ?? GatewayErrorCode.Internal, options.status ?? 500, message);
    this.worker = options.worker;
    this.pid = options.pid;
    this.errorName = options.errorName;
  }
}
