/**
 * Typed errors. Each knows its stable `code` and the HTTP `status` it maps to, so the client, the
 * server and the gateway report the same failure the same way.
 */

/** Stable error codes; the string values are part of the public API. */
export const ErrorCode = {
  /** A streamed body broke: a chunk lost or out of order, credit exceeded, or the peer aborted (502). */
  Stream: "NM_ERR_STREAM",
  /** The instance went silent past its heartbeat deadline: it died, or the request was lost (503). */
  InstanceLost: "NM_ERR_INSTANCE_LOST",
  NoResponders: "NM_ERR_NO_RESPONDERS",
  Timeout: "NM_ERR_TIMEOUT",
  ConnectionClosed: "NM_ERR_CONNECTION_CLOSED",
  Malformed: "NM_ERR_MALFORMED",
  BadResponse: "NM_ERR_BAD_RESPONSE",
  PayloadTooLarge: "NM_ERR_PAYLOAD_TOO_LARGE",
  InvalidService: "NM_ERR_INVALID_SERVICE",
  Handler: "NM_ERR_HANDLER",
  Config: "NM_ERR_CONFIG",
  Connect: "NM_ERR_CONNECT",
  /** A gateway route's policy configuration (CORS, rate limit, auth) is invalid. */
  GatewayConfig: "NM_ERR_GATEWAY_CONFIG",
  /** The gateway refused a request without valid credentials (401). */
  Unauthorized: "NM_ERR_UNAUTHORIZED",
  /** The gateway refused a request over the route's rate limit (429). */
  RateLimited: "NM_ERR_RATE_LIMITED",
  /** The gateway refused a CORS preflight: origin or method not allowed (403). */
  CorsRejected: "NM_ERR_CORS_REJECTED",
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
  /** NATS refused a publish or subscribe the connection's user is not permitted (403). */
  PermissionDenied: "NM_ERR_PERMISSION_DENIED",
  /** A service's circuit breaker is open: the call failed fast without being sent (503). */
  CircuitOpen: "NM_ERR_CIRCUIT_OPEN",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Where a failed call was going: set on errors raised for a request. */
export interface CallTarget {
  /** Service name, e.g. `weather`. */
  service?: string;
  /** NATS subject the request was published to, e.g. `mesh.weather.get`. */
  subject?: string;
}

/** Options common to every {@link MeshError}. */
export interface MeshErrorOptions extends CallTarget {
  cause?: unknown;
}

/**
 * Base class of every natsmesh error.
 *
 * @example
 * ```ts
 * try { await fetch("http://weather/"); }
 * catch (err) { if (err instanceof MeshError) console.log(err.code, err.status); }
 * ```
 */
export class MeshError extends Error {
  /** Stable machine-readable code, e.g. `NM_ERR_TIMEOUT`. */
  readonly code: ErrorCode;
  /** HTTP status this failure maps to. */
  readonly status: number;
  /** Service the call was for, when known. */
  readonly service: string | undefined;
  /** NATS subject the call was published to, when known. */
  readonly subject: string | undefined;

  constructor(code: ErrorCode, status: number, message: string, options: MeshErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MeshError";
    this.code = code;
    this.status = status;
    this.service = options.service;
    this.subject = options.subject;
  }
}

/** Nobody serves the subject: NATS answered "no responders" at once. Maps to 503. */
export class NoRespondersError extends MeshError {
  constructor(target: CallTarget, options: MeshErrorOptions = {}) {
    super(
      ErrorCode.NoResponders,
      503,
      `no responders for service '${target.service}' on subject '${target.subject}'`,
      { ...options, ...target },
    );
    this.name = "NoRespondersError";
  }
}

/** No answer within the deadline. Maps to 504. */
export class TimeoutError extends MeshError {
  /** The deadline that passed, in milliseconds. */
  readonly timeout: number;
  constructor(target: CallTarget, timeout: number, options: MeshErrorOptions = {}) {
    super(
      ErrorCode.Timeout,
      504,
      `service '${target.service}' timed out after ${timeout} ms on subject '${target.subject}'`,
      { ...options, ...target },
    );
    this.name = "TimeoutError";
    this.timeout = timeout;
  }
}

/** The NATS connection closed before an answer came. Maps to 503. */
export class ConnectionClosedError extends MeshError {
  constructor(target: CallTarget, options: MeshErrorOptions = {}) {
    super(
      ErrorCode.ConnectionClosed,
      503,
      `NATS connection closed before service '${target.service}' answered on subject '${target.subject}'`,
      { ...options, ...target },
    );
    this.name = "ConnectionClosedError";
  }
}

/** A message that does not follow the wire protocol. Maps to 400 (a bad request reached a server). */
export class MalformedMessageError extends MeshError {
  constructor(message: string, options: MeshErrorOptions = {}) {
    super(ErrorCode.Malformed, 400, `malformed message: ${message}`, options);
    this.name = "MalformedMessageError";
  }
}

/** A reply that does not follow the wire protocol. Maps to 502 (a bad gateway answer). */
export class BadResponseError extends MeshError {
  constructor(message: string, options: MeshErrorOptions = {}) {
    super(ErrorCode.BadResponse, 502, `malformed response: ${message}`, options);
    this.name = "BadResponseError";
  }
}

/** A body larger than one NATS message can carry. Maps to 413. */
export class PayloadTooLargeError extends MeshError {
  /** Size that was attempted, in bytes. */
  readonly size: number;
  /** The connection's max_payload, in bytes. */
  readonly limit: number;
  constructor(size: number, limit: number, options: MeshErrorOptions = {}) {
    super(
      ErrorCode.PayloadTooLarge,
      413,
      `message of ${size} bytes exceeds the NATS server's max_payload of ${limit} bytes`,
      options,
    );
    this.name = "PayloadTooLargeError";
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A streamed body broke (PROTOCOL.md §8): a chunk was lost or came out of order, the sender exceeded
 * its credit, the body's length contradicts its `content-length`, or the other side aborted. Maps to 502.
 */
export class StreamError extends MeshError {
  constructor(message: string, options: MeshErrorOptions = {}) {
    super(ErrorCode.Stream, 502, `stream failed: ${message}`, options);
    this.name = "StreamError";
  }
}

/**
 * Nothing was heard from the instance within twice the request's heartbeat interval: it died (or was
 * cut off) while working, or the request never reached one. Maps to 503; safe to retry when idempotent.
 */
export class InstanceLostError extends MeshError {
  /** Milliseconds of silence that were tolerated. */
  readonly silence: number;
  constructor(target: CallTarget, silence: number, options: MeshErrorOptions = {}) {
    super(
      ErrorCode.InstanceLost,
      503,
      `service '${target.service}' went silent for ${silence} ms on subject '${target.subject}' (instance lost)`,
      { ...options, ...target },
    );
    this.name = "InstanceLostError";
    this.silence = silence;
  }
}

/** A service name, prefix, method or URL that cannot name a NATS subject. Maps to 400. */
export class InvalidServiceError extends MeshError {
  constructor(message: string, options: MeshErrorOptions = {}) {
    super(ErrorCode.InvalidService, 400, message, options);
    this.name = "InvalidServiceError";
  }
}

/**
 * NATS refused an operation the connection's user is not permitted: the publish of a request to its
 * subject (the user's `permissions.publish` does not allow it), or the subscription to the reply inbox
 * (`permissions.subscribe` must allow `_INBOX.>`, or the connection's `inboxPrefix`). nats-server reports
 * these asynchronously; the client fails the calls they concern at once instead of letting them time
 * out. Maps to 403. See docs/SECURITY.md.
 *
 * @example
 * ```ts
 * try { await fetch("http://weather/reports", { method: "POST" }); }
 * catch (err) { if (err instanceof PermissionDeniedError) console.error(err.operation, err.denied); }
 * ```
 */
export class PermissionDeniedError extends MeshError {
  /** What NATS refused: `publish` (the request subject) or `subscribe` (the reply inbox). */
  readonly operation: "publish" | "subscribe";
  /** The subject NATS refused, e.g. `mesh.weather.post` or `_INBOX.abc.*`. */
  readonly denied: string;

  /**
   * @param target - the service and subject of the call that failed
   * @param operation - what NATS refused
   * @param denied - the subject it refused
   * @param options - the nats.js `PermissionViolationError` as `cause`
   * @throws never
   * @example
   * ```ts
   * new PermissionDeniedError({ service: "weather", subject: "mesh.weather.post" }, "publish", "mesh.weather.post");
   * ```
   */
  constructor(
    target: CallTarget,
    operation: "publish" | "subscribe",
    denied: string,
    options: MeshErrorOptions = {},
  ) {
    const message =
      operation === "publish" && denied === target.subject
        ? `permission denied: NATS does not allow this connection to publish to '${denied}' (service '${target.service}')`
        : operation === "publish"
          ? `permission denied: NATS does not allow this connection to publish to '${denied}', the subject an instance of service '${target.service}' handed over for a streamed body (allow publish on '_INBOX.>')`
          : `permission denied: NATS does not allow this connection to subscribe to its reply inbox '${denied}' (needed for service '${target.service}'; allow subscribe on '_INBOX.>')`;
    super(ErrorCode.PermissionDenied, 403, message, { ...options, ...target });
    this.name = "PermissionDeniedError";
    this.operation = operation;
    this.denied = denied;
  }
}

/** Rebuilds a typed error from a reply natsmesh itself produced (the `mesh-error` header carries the code). */
export function errorFromCode(code: string, status: number, message: string, target: CallTarget): MeshError {
  const known = (Object.values(ErrorCode) as string[]).includes(code)
    ? (code as ErrorCode)
    : ErrorCode.Handler;
  return new MeshError(known, status, message, target);
}
