/**
 * What a caller is told about a failure: status, stable code and a message that reveals nothing
 * internal (no stack, no subject, no instance detail).
 *
 * @module
 */
import { STATUS_CODES } from "node:http";
import { ConnectError } from "../../connect/index.js";
import {
  BadResponseError,
  ConnectionClosedError,
  ErrorCode,
  InstanceLostError,
  InvalidServiceError,
  MalformedMessageError,
  MeshError,
  NoRespondersError,
  PayloadTooLargeError,
  PermissionDeniedError,
  StreamError,
  TimeoutError,
} from "../../protocol/index.js";
import { CircuitOpenError } from "../../traffic/breaker.js";
import {
  BadRequestError,
  BodyTooLargeError,
  GatewayErrorCode,
  NoRouteError,
  RequestTimeoutError,
} from "../errors.js";

/** A failure as the caller sees it. */
export interface PublicError {
  /** HTTP status. */
  readonly status: number;
  /** Stable code, e.g. `NM_ERR_NO_RESPONDERS`. */
  readonly code: string;
  /** Message safe to show. */
  readonly message: string;
  /** Seconds to put in `Retry-After`, for failures worth retrying later. */
  readonly retryAfter?: number;
}

/** Seconds a caller is asked to wait after a 503. */
export const RETRY_AFTER_SECONDS = 1;

const UNAVAILABLE = "service unavailable: no instance is serving it";

/**
 * Maps an error raised while serving a request to what the caller is told. Every `MeshError` keeps its
 * own status and code (the gateway's translations aside: a request it cannot encode is
 * `NM_ERR_BAD_REQUEST`, a body it cannot send `NM_ERR_BODY_TOO_LARGE`, a connection it lost
 * `NM_ERR_CONNECTION_CLOSED`), with a message of the gateway's own, since a `MeshError`'s message may
 * name subjects; every 503 carries `Retry-After`.
 *
 * @param err - anything thrown
 * @param timeout - the route's deadline in milliseconds, for the 504 message
 * @returns status, code, message and `Retry-After` seconds for 503s; 500 `NM_ERR_INTERNAL` for
 *   anything that is not a `MeshError`
 * @example
 * ```ts
 * publicError(new NoRespondersError({ service: "weather" }), 5000);
 * // { status: 503, code: "NM_ERR_NO_RESPONDERS", message: "service unavailable: ...", retryAfter: 1 }
 * ```
 */
export function publicError(err: unknown, timeout = 0): PublicError {
  if (!(err instanceof MeshError))
    return { status: 500, code: GatewayErrorCode.Internal, message: "internal gateway error" };
  if (err instanceof NoRespondersError)
    return { status: 503, code: err.code, message: UNAVAILABLE, retryAfter: RETRY_AFTER_SECONDS };
  if (err instanceof InstanceLostError)
    return {
      status: 503,
      code: err.code,
      message: "service unavailable: the instance handling the request stopped answering",
      retryAfter: RETRY_AFTER_SECONDS,
    };
  if (err instanceof ConnectionClosedError || err instanceof ConnectError)
    return {
      status: 503,
      code: ErrorCode.ConnectionClosed,
      message: "service unavailable: the gateway is not connected to the mesh",
      retryAfter: RETRY_AFTER_SECONDS,
    };
  if (err instanceof CircuitOpenError)
    return {
      status: 503,
      code: err.code,
      message: "service unavailable: recent calls failed, the gateway is not sending requests for now",
      retryAfter: Math.max(1, Math.ceil(err.retryAfterMs / 1000)),
    };
  if (err instanceof PermissionDeniedError)
    return { status: 403, code: err.code, message: "forbidden: the gateway may not call this service" };
  if (err instanceof TimeoutError)
    return { status: 504, code: err.code, message: `the service did not answer within ${timeout} ms` };
  if (err instanceof PayloadTooLargeError)
    return { status: 413, code: GatewayErrorCode.BodyTooLarge, message: "request too large to forward" };
  if (err instanceof BadResponseError)
    return { status: 502, code: err.code, message: "the service sent a malformed response" };
  if (err instanceof StreamError)
    return { status: 502, code: err.code, message: "the service's streamed response broke" };
  if (err instanceof InvalidServiceError || err instanceof MalformedMessageError)
    return { status: 400, code: GatewayErrorCode.BadRequest, message: "malformed request" };
  if (
    err instanceof NoRouteError ||
    err instanceof BodyTooLargeError ||
    err instanceof BadRequestError ||
    err instanceof RequestTimeoutError
  )
    return { status: err.status, code: err.code, message: err.message };
  // Any other MeshError: its own status and code, a message that names no subject.
  const status = err.status >= 400 && err.status <= 599 ? err.status : 500;
  const message = (STATUS_CODES[status] ?? "error").toLowerCase();
  return status === 503
    ? { status, code: err.code, message, retryAfter: RETRY_AFTER_SECONDS }
    : { status, code: err.code, message };
}
