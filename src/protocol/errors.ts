/**
 * Typed errors. Each knows its stable `code` and the HTTP `status` it maps to, so the client, the
 * server and the gateway report the same failure the same way. Every error natsmesh throws to a user
 * is a {@link MeshError}; the gateway's own codes are `GatewayErrorCode` (`natsmesh/gateway`).
 */

/**
 * Stable error codes; the string values are part of the public API and travel on the wire in the
 * `mesh-error` header. With `GatewayErrorCode` (`natsmesh/gateway`) this is every code a natsmesh
 * error carries.
 *
 * @example
 * ```ts
 * const res = await fetch("http://weather.nats/city").catch((err) => err);
 * if (res instanceof MeshError && res.code === ErrorCode.NoResponders) console.log("no instance of weather runs");
 * ```
 */
export const ErrorCode = {
  /** A streamed body broke: a chunk lost or out of order, credit exceeded, or the peer aborted (502). */
  Stream: "NM_ERR_STREAM",
  /**
   * The instance went silent past its heartbeat deadline (it died, or the request was lost), or it
   * stopped (`stop({ timeout })`) before the handler answered (503).
   */
  InstanceLost: "NM_ERR_INSTANCE_LOST",
  /** Nobody serves the service's subject: NATS answered "no responders" at once (503). */
  NoResponders: "NM_ERR_NO_RESPONDERS",
  /** No answer within the deadline: the caller's timeout, or the instance's handler timeout (504). */
  Timeout: "NM_ERR_TIMEOUT",
  /** The NATS connection closed before the answer came (503). */
  ConnectionClosed: "NM_ERR_CONNECTION_CLOSED",
  /** A request message that does not follow the wire protocol reached an instance (400). */
  Malformed: "NM_ERR_MALFORMED",
  /** A reply that does not follow the wire protocol (502). */
  BadResponse: "NM_ERR_BAD_RESPONSE",
  /** A message larger than the NATS server's `max_payload`, where it cannot be streamed (413). */
  PayloadTooLarge: "NM_ERR_PAYLOAD_TOO_LARGE",
  /** A service name, prefix, method or URL that cannot name a NATS subject (400). */
  InvalidService: "NM_ERR_INVALID_SERVICE",
  /** The handler threw, or its response could not be sent; the details stay in the instance's log (500). */
  Handler: "NM_ERR_HANDLER",
  /** A setting is invalid: an option, a `NATS_*` variable, a natscli context, a canary split (500). */
  Config: "NM_ERR_CONFIG",
  /** The connection to the NATS servers failed: refused, timed out, not authorized (503). */
  Connect: "NM_ERR_CONNECT",
  /** A TLS handshake with a NATS server failed: whose certificate, and why, is in the error (503). */
  TlsHandshake: "NM_ERR_TLS_HANDSHAKE",
  /** NATS refused a publish or subscribe the connection's user is not permitted (403). */
  PermissionDenied: "NM_ERR_PERMISSION_DENIED",
  /** A service's circuit breaker is open: the call failed fast without being sent (503). */
  CircuitOpen: "NM_ERR_CIRCUIT_OPEN",
  /** No executable `nats-server` was found to start a local server (`natsmesh/dev`, `natsmesh dev`) (500). */
  NatsServerNotFound: "NM_ERR_NATS_SERVER_NOT_FOUND",
  /** A local `nats-server` (`natsmesh/dev`, `natsmesh dev`) could not be started or exited before it was ready (500). */
  NatsServerStart: "NM_ERR_NATS_SERVER_START",
  /** A `natsmesh` command failed on its input: a bad flag or argument, an unreadable file (400). */
  Cli: "NM_ERR_CLI",
  /** A call on an object that was closed: a gateway, a `MeshDispatcher` (503). */
  Closed: "NM_ERR_CLOSED",
  /**
   * A redirect the Fetch standard refuses (`redirect: "error"`, more than 20 redirects, a Location
   * that is not an http(s) URL, a streamed body that cannot be sent again); `fetch` rejects with a
   * `TypeError` whose `cause` carries this code, as the standard's network error (502).
   */
  Redirect: "NM_ERR_REDIRECT",
  /** A service redirected to a URL outside the mesh, and the client does not hand those on (502). */
  RedirectOutside: "NM_ERR_REDIRECT_OUTSIDE",
  /**
   * Deduplication (`serve({ dedupe })`): a request with this `Idempotency-Key` is still running
   * elsewhere and did not finish within the instance's wait (409).
   */
  DedupeInProgress: "NM_ERR_DEDUPE_IN_PROGRESS",
  /**
   * Deduplication: the `Idempotency-Key` was first used with a different request (method, path or
   * body) (422).
   */
  DedupeMismatch: "NM_ERR_DEDUPE_MISMATCH",
  /**
   * Deduplication: the request with this `Idempotency-Key` ran, but its answer was not kept (larger
   * than `dedupe.maxAnswer`), so a repeat cannot be given it (409).
   */
  DedupeNotKept: "NM_ERR_DEDUPE_NOT_KEPT",
  /**
   * Deduplication: the store (a NATS KV bucket) cannot be reached — JetStream down or not enabled,
   * the bucket full or missing — so the request was not run (503).
   */
  DedupeUnavailable: "NM_ERR_DEDUPE_UNAVAILABLE",
  /**
   * Durable requests (PROTOCOL.md §13): the request cannot be stored — JetStream is not enabled, or no
   * instance of the service accepts durable requests (its stream does not exist) (503).
   */
  DurableUnavailable: "NM_ERR_DURABLE_UNAVAILABLE",
  /** Durable requests: the service's stream is full (its `max_bytes` or `max_msgs`); retry later (503). */
  DurableFull: "NM_ERR_DURABLE_FULL",
  /**
   * Durable requests: the `Idempotency-Key` names a request with another method, path or body (422);
   * nothing was stored.
   */
  DurableMismatch: "NM_ERR_DURABLE_MISMATCH",
  /** Durable requests: no request with this id, or its record expired (404). */
  DurableNotFound: "NM_ERR_DURABLE_NOT_FOUND",
  /** Durable requests: the request is a dead letter, every attempt failed (500). */
  DurableDeadLetter: "NM_ERR_DURABLE_DEAD_LETTER",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Where a failed call was going: set on errors raised for a request.
 *
 * @example
 * ```ts
 * const err = new NoRespondersError({ service: "orders", subject: "mesh.orders.GET" });
 * ```
 */
export interface CallTarget {
  /** Service name, e.g. `weather`. */
  service?: string;
  /** NATS subject the request was published to, e.g. `mesh.weather.get`. */
  subject?: string;
}

/**
 * Options common to every {@link MeshError}.
 *
 * @example
 * ```ts
 * throw new NoRespondersError({ service: "orders" }, { cause: err });
 * ```
 */
export interface MeshErrorOptions extends CallTarget {
  /** The underlying error, if any. */
  cause?: unknown;
}

/** The brand every natsmesh error carries, whichever copy of natsmesh made it. */
const kMeshError = Symbol.for("natsmesh.error");
/** Each branded class's brand symbol (`natsmesh.error.<name>`). */
const brands = new WeakMap<object, symbol>();
/** Each branded class's `name`. */
const names = new WeakMap<object, string>();

/**
 * Registers an error class of the family: its instances are named `name` and carry the symbol
 * `Symbol.for("natsmesh.error.<name>")`, which `instanceof` checks, so that an error made by another
 * installed copy of natsmesh passes `instanceof` of this copy's class (as undici's `kUndiciError`).
 * Call it once per class, in a `static {}` block, with a name unique in natsmesh.
 *
 * @param cls - the class, a {@link MeshError} or a subclass
 * @param name - its `name`, e.g. `TimeoutError`
 * @example
 * ```ts
 * class TimeoutError extends MeshError {
 *   static { brandError(TimeoutError, "TimeoutError"); }
 * }
 * ```
 */
export function brandError(cls: abstract new (...args: never[]) => Error, name: string): void {
  const brand = name === "MeshError" ? kMeshError : Symbol.for(`natsmesh.error.${name}`);
  Object.defineProperty(cls.prototype, brand, { value: true });
  brands.set(cls, brand);
  names.set(cls, name);
}

/** The registered name of `cls`, or of its nearest registered ancestor (a user's own subclass). */
function nameOf(cls: object): string {
  for (let c: object | null = cls; c !== null; c = Object.getPrototypeOf(c)) {
    const name = names.get(c);
    if (name !== undefined) return name;
  }
  return "MeshError";
}

/** `instanceof` of the family: the class's brand, or the prototype chain for an unregistered subclass. */
function isInstance(cls: object, value: unknown): boolean {
  const brand = brands.get(cls);
  if (brand === undefined) return Function.prototype[Symbol.hasInstance].call(cls, value);
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/**
 * Base class of every natsmesh error: a stable `code` (from {@link ErrorCode} or `GatewayErrorCode`),
 * the HTTP `status` the failure maps to, and the call's `service` and `subject` when known.
 * `instanceof` holds across two installed copies of natsmesh: it checks a `Symbol.for` brand, not
 * the prototype chain (a subclass checks its own brand, so `instanceof TimeoutError` stays specific).
 *
 * @example
 * ```ts
 * try { await fetch("http://weather/"); }
 * catch (err) { if (err instanceof MeshError) console.log(err.code, err.status); }
 * ```
 */
export class MeshError extends Error {
  static {
    brandError(MeshError, "MeshError");
  }

  /**
   * Whether `value` is an error of this class, made by any copy of natsmesh.
   *
   * @param value - anything
   * @returns true when `value` carries this class's brand; for a subclass that did not register
   *   itself with `brandError`, the ordinary prototype check
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class right of `instanceof`, a subclass too
    return isInstance(this, value);
  }

  /** Stable machine-readable code, e.g. `NM_ERR_TIMEOUT`: an {@link ErrorCode} or a `GatewayErrorCode`. */
  readonly code: string;
  /** HTTP status this failure maps to. */
  readonly status: number;
  /** Service the call was for, when known. */
  readonly service: string | undefined;
  /** NATS subject the call was published to, when known. */
  readonly subject: string | undefined;

  /**
   * @param code - the stable code
   * @param status - the HTTP status the failure maps to
   * @param message - what went wrong
   * @param options - the call's service and subject, and the cause
   * @example
   * ```ts
   * new MeshError(ErrorCode.Handler, 500, "the handler failed", { service: "weather" });
   * ```
   */
  constructor(code: string, status: number, message: string, options: MeshErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = nameOf(new.target);
    this.code = code;
    this.status = status;
    this.service = options.service;
    this.subject = options.subject;
  }
}

/**
 * Nobody serves the subject: NATS answered "no responders" at once. Maps to 503.
 *
 * @example
 * ```ts
 * const res = await fetch("http://weather.nats/city?q=london").catch((err) => err);
 * if (res instanceof NoRespondersError) console.log(res.status, res.service); // 503 "weather"
 * ```
 */
export class NoRespondersError extends MeshError {
  static {
    brandError(NoRespondersError, "NoRespondersError");
  }

  constructor(target: CallTarget, options: MeshErrorOptions = {}) {
    super(
      ErrorCode.NoResponders,
      503,
      `no responders for service '${target.service}' on subject '${target.subject}'`,
      { ...options, ...target },
    );
  }
}

/**
 * No answer within the deadline. Maps to 504.
 *
 * @example
 * ```ts
 * const res = await fetch("http://weather.nats/slow", { timeout: 500 }).catch((err) => err);
 * if (res instanceof TimeoutError) console.log(res.status, res.timeout); // 504 500
 * ```
 */
export class TimeoutError extends MeshError {
  static {
    brandError(TimeoutError, "TimeoutError");
  }

  /** The deadline that passed, in milliseconds. */
  readonly timeout: number;
  constructor(target: CallTarget, timeout: number, options: MeshErrorOptions = {}) {
    super(
      ErrorCode.Timeout,
      504,
      target.subject === undefined
        ? `service '${target.service}' timed out after ${timeout} ms, still connecting to NATS`
        : `service '${target.service}' timed out after ${timeout} ms on subject '${target.subject}'`,
      { ...options, ...target },
    );
    this.timeout = timeout;
  }
}

/**
 * The NATS connection closed before an answer came. Maps to 503.
 *
 * @example
 * ```ts
 * const res = await fetch("http://weather.nats/city?q=london").catch((err) => err);
 * if (res instanceof ConnectionClosedError) console.log(res.code); // "NM_ERR_CONNECTION_CLOSED"
 * ```
 */
export class ConnectionClosedError extends MeshError {
  static {
    brandError(ConnectionClosedError, "ConnectionClosedError");
  }

  constructor(target: CallTarget, options: MeshErrorOptions = {}) {
    super(
      ErrorCode.ConnectionClosed,
      503,
      `NATS connection closed before service '${target.service}' answered on subject '${target.subject}'`,
      { ...options, ...target },
    );
  }
}

/**
 * A call on an object that was already closed, e.g. `listen()` on a closed gateway or a request through a
 * closed `MeshDispatcher`. Maps to 503.
 *
 * @example
 * ```ts
 * await dispatcher.close();
 * await request("http://weather/", { dispatcher }); // rejects with ClosedError
 * ```
 */
export class ClosedError extends MeshError {
  static {
    brandError(ClosedError, "ClosedError");
  }

  /**
   * @param what - what was closed, as the message names it, e.g. `the gateway`
   */
  constructor(what: string) {
    super(ErrorCode.Closed, 503, `${what} is closed`);
  }
}

/**
 * A redirect the Fetch standard turns into a network error. `fetch` rejects with
 * `TypeError("fetch failed")` as the standard asks, and this error is its `cause`. Maps to 502.
 *
 * @example
 * ```ts
 * await fetch("http://old.nats/", { redirect: "error" }).catch((err) => err.cause.code); // "NM_ERR_REDIRECT"
 * ```
 */
export class RedirectError extends MeshError {
  static {
    brandError(RedirectError, "RedirectError");
  }

  /**
   * @param message - why the redirect is refused
   * @param options - the service that answered with it
   */
  constructor(message: string, options: MeshErrorOptions = {}) {
    super(ErrorCode.Redirect, 502, message, options);
  }
}

/**
 * A service answered with a redirect to a URL outside the mesh (see `FetchOptions.externalRedirect`).
 * Maps to 502.
 *
 * @example
 * ```ts
 * try { await fetch("http://login.nats/"); }
 * catch (err) { if (err instanceof RedirectOutsideError) console.log(err.location); }
 * ```
 */
export class RedirectOutsideError extends MeshError {
  static {
    brandError(RedirectOutsideError, "RedirectOutsideError");
  }

  /** The URL the service redirected to. */
  readonly location: string;

  /**
   * @param location - the redirect's target URL
   * @param options - the service that answered with it
   */
  constructor(location: string, options: MeshErrorOptions = {}) {
    super(
      ErrorCode.RedirectOutside,
      502,
      `service '${options.service}' redirected outside the mesh, to ${location}: set externalRedirect to follow it with the platform's fetch`,
      options,
    );
    this.location = location;
  }
}

/**
 * A message that does not follow the wire protocol. Maps to 400 (a bad request reached a server).
 *
 * @example
 * ```ts
 * const err = new MalformedMessageError("head is not UTF-8", { service: "weather" });
 * console.log(err.status, err.code); // 400, the code of ErrorCode.Malformed
 * ```
 */
export class MalformedMessageError extends MeshError {
  static {
    brandError(MalformedMessageError, "MalformedMessageError");
  }

  constructor(message: string, options: MeshErrorOptions = {}) {
    super(ErrorCode.Malformed, 400, `malformed message: ${message}`, options);
  }
}

/**
 * A reply that does not follow the wire protocol. Maps to 502 (a bad gateway answer).
 *
 * @example
 * ```ts
 * const res = await fetch("http://weather.nats/city?q=london").catch((err) => err);
 * if (res instanceof BadResponseError) console.log(res.status, res.message); // 502 "malformed response: ..."
 * ```
 */
export class BadResponseError extends MeshError {
  static {
    brandError(BadResponseError, "BadResponseError");
  }

  constructor(message: string, options: MeshErrorOptions = {}) {
    super(ErrorCode.BadResponse, 502, `malformed response: ${message}`, options);
  }
}

/**
 * A body larger than one NATS message can carry. Maps to 413.
 *
 * @example
 * ```ts
 * const res = await fetch("http://upload.nats/", { method: "POST", body: bigBuffer }).catch((err) => err);
 * if (res instanceof PayloadTooLargeError) console.log(res.status); // 413
 * ```
 */
export class PayloadTooLargeError extends MeshError {
  static {
    brandError(PayloadTooLargeError, "PayloadTooLargeError");
  }

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
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A streamed body broke (PROTOCOL.md §8): a chunk was lost or came out of order, the sender exceeded
 * its credit, the body's length contradicts its `content-length`, or the other side aborted. Maps to 502.
 *
 * @example
 * ```ts
 * const res = await fetch("http://files.nats/big.bin");
 * const body = await res.arrayBuffer().catch((err) => err);
 * if (body instanceof StreamError) console.log(body.status); // 502: the body broke while it streamed
 * ```
 */
export class StreamError extends MeshError {
  static {
    brandError(StreamError, "StreamError");
  }

  constructor(message: string, options: MeshErrorOptions = {}) {
    super(ErrorCode.Stream, 502, `stream failed: ${message}`, options);
  }
}

/**
 * Nothing was heard from the instance within twice the request's heartbeat interval: it died (or was
 * cut off) while working, or the request never reached one — or, for a request the caller may send
 * again, no instance acknowledged it in time (PROTOCOL.md §8.4). Maps to 503; safe to retry when
 * idempotent.
 *
 * @example
 * ```ts
 * const res = await fetch("http://weather.nats/report", { method: "POST", body }).catch((err) => err);
 * if (res instanceof InstanceLostError) console.log(res.status, res.code); // 503 "NM_ERR_INSTANCE_LOST"
 * ```
 */
export class InstanceLostError extends MeshError {
  static {
    brandError(InstanceLostError, "InstanceLostError");
  }

  /** Milliseconds of silence that were tolerated. */
  readonly silence: number;
  /**
   * False when no instance acknowledged the request: none had taken it (a frozen instance that
   * resumes does not run it without asking the caller), so sending it again runs it once at most.
   */
  readonly acknowledged: boolean;

  /**
   * @param target - the service and subject called
   * @param silence - milliseconds of silence tolerated
   * @param options - cause and the like
   * @param acknowledged - whether the instance had acknowledged the request (default true)
   */
  constructor(target: CallTarget, silence: number, options: MeshErrorOptions = {}, acknowledged = true) {
    super(
      ErrorCode.InstanceLost,
      503,
      acknowledged
        ? `service '${target.service}' went silent for ${silence} ms on subject '${target.subject}' (instance lost)`
        : `service '${target.service}': no instance acknowledged the request within ${silence} ms on subject '${target.subject}' (instance lost)`,
      { ...options, ...target },
    );
    this.silence = silence;
    this.acknowledged = acknowledged;
  }
}

/**
 * A service name, prefix, method or URL that cannot name a NATS subject. Maps to 400.
 *
 * @example
 * ```ts
 * const res = await fetch("http://we$ather.nats/").catch((err) => err);
 * if (res instanceof InvalidServiceError) console.log(res.status, res.message); // 400, what is wrong with the name
 * ```
 */
export class InvalidServiceError extends MeshError {
  static {
    brandError(InvalidServiceError, "InvalidServiceError");
  }

  constructor(message: string, options: MeshErrorOptions = {}) {
    super(ErrorCode.InvalidService, 400, message, options);
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
  static {
    brandError(PermissionDeniedError, "PermissionDeniedError");
  }

  /** What NATS refused: `publish` (the request subject) or `subscribe` (the reply inbox). */
  readonly operation: "publish" | "subscribe";
  /** The subject NATS refused, e.g. `mesh.weather.post` or `_INBOX.abc.*`. */
  readonly denied: string;

  /**
   * @param target - the service and subject of the call that failed
   * @param operation - what NATS refused
   * @param denied - the subject it refused
   * @param options - the nats.js `PermissionViolationError` as `cause`
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
          : denied === target.subject
            ? `permission denied: NATS does not allow this connection to subscribe to '${denied}' (service '${target.service}')`
            : `permission denied: NATS does not allow this connection to subscribe to its reply inbox '${denied}' (needed for service '${target.service}'; allow subscribe on '_INBOX.>')`;
    super(ErrorCode.PermissionDenied, 403, message, { ...options, ...target });
    this.operation = operation;
    this.denied = denied;
  }
}
