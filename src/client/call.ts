import type { NatsConnection } from "@nats-io/nats-core";
import type { Context } from "@opentelemetry/api";
import {
  type CallTarget,
  ConnectionClosedError,
  encodeRequest,
  PayloadTooLargeError,
  requestSubject,
  StreamError,
  type WireRequest,
  type WireResponse,
} from "../protocol/index.js";
import { ChunkReader, chunkSizeFor, DEFAULT_WINDOW, readSmall } from "../stream/index.js";
import { endSpan, failSpan, startClientSpan } from "../tracing/index.js";
import { CallExchange } from "./call-exchange.js";
import { muxFor } from "./mux.js";

/** Default heartbeat interval asked of services, in ms: a silent instance is given up after twice that. */
export const DEFAULT_HEARTBEAT = 1000;
const EMPTY = new Uint8Array(0);
/** nats-server's default max_payload, for a connection that has not said its own yet. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Per-call settings of {@link callService}. */
export interface CallOptions {
  /** Subject prefix, e.g. `mesh`. */
  prefix: string;
  /** Deadline in milliseconds; 0 means none. */
  timeout: number;
  /** Aborts the wait. */
  signal?: AbortSignal | undefined;
  /**
   * OpenTelemetry context the call's CLIENT span is a child of (default: the active context). Used
   * only when a tracer provider is registered.
   */
  parent?: Context | undefined;
  /** Coalesce the publish with others of the same event-loop turn (for servers such as the gateway). */
  batch?: boolean;
  /**
   * Heartbeat interval asked of the instance, in ms (default 1000; 0 for none): while it works it
   * sends a sign of life at least that often, and the call fails with `InstanceLostError` after twice
   * that much silence. Heartbeats are extra messages: across an account import they need the export's
   * `response_type: stream` (docs/STREAMING.md).
   */
  heartbeat?: number;
  /**
   * Chunks of credit granted to a streamed response (default 16; 0 to take responses in one message
   * only, which limits them to the server's max_payload).
   */
  window?: number;
  /**
   * The caller will send the request again if this attempt fails with `InstanceLostError` (it is
   * idempotent and its retries are on). For a service known to acknowledge requests (PROTOCOL.md
   * §8.4), the attempt then fails as soon as the acknowledgement is late (100–500 ms, from the
   * service's observed round trip) rather than after twice the heartbeat. Default false.
   */
  resendable?: boolean;
}

/**
 * Sends one HTTP request to `service` over NATS and waits for its response. This is the request path
 * shared by `createFetch`, the undici `MeshDispatcher` and the gateway. With an OpenTelemetry tracer
 * provider registered, the call is a CLIENT span whose context travels in the request's `traceparent`.
 *
 * Bodies that do not fit in one message, and `request.stream` bodies, stream to the instance that
 * took the request; a streamed response resolves with `stream` set (PROTOCOL.md §8). The `timeout`
 * runs until the response head arrives.
 *
 * @throws {@link PayloadTooLargeError} when the request head alone does not fit in one message.
 * @throws {@link NoRespondersError}, {@link TimeoutError}, {@link ConnectionClosedError},
 *   {@link BadResponseError}, {@link InstanceLostError}, {@link StreamError}.
 */
export function callService(
  nc: NatsConnection,
  service: string,
  request: WireRequest,
  options: CallOptions,
): Promise<WireResponse> {
  // Not async, and no await: each async layer costs promises and microtask turns on every call;
  // what would throw rejects instead.
  try {
    const subject = requestSubject(options.prefix, service, request.method);
    const call = startClientSpan(service, subject, request, options.parent);
    if (call === undefined) return exchange(nc, service, subject, request, options);
    return exchange(nc, service, subject, call.request, options).then(
      (res) => {
        endSpan(call.span, res.status);
        return res;
      },
      (err: unknown) => {
        failSpan(call.span, err);
        throw err;
      },
    );
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * The call itself. Its own failures reject; what throws beneath it (encoding a request the caller
 * built) {@link callService} turns into a rejection.
 */
function exchange(
  nc: NatsConnection,
  service: string,
  subject: string,
  request: WireRequest,
  options: CallOptions,
): Promise<WireResponse> {
  const target = { service, subject };
  if (nc.isClosed()) return Promise.reject(new ConnectionClosedError(target));
  const limit = nc.info?.max_payload;
  const heartbeat = options.heartbeat ?? DEFAULT_HEARTBEAT;
  const window = options.window ?? DEFAULT_WINDOW;
  const wire: WireRequest = {
    method: request.method,
    path: request.path,
    headers: request.headers,
    body: request.body,
    window: window > 0 ? window : undefined,
    heartbeat: heartbeat > 0 ? heartbeat : undefined,
  };
  if (request.stream !== undefined) {
    // A stream that ends small goes as one message, which any peer can read (PROTOCOL.md §9).
    const room = (limit ?? DEFAULT_MAX_PAYLOAD) - encodeRequest({ ...wire, body: EMPTY }).byteLength;
    return readSmall(request.stream, room).then(
      ({ whole, rest }) =>
        send(
          nc,
          subject,
          whole === undefined ? wire : { ...wire, body: whole },
          rest,
          options,
          limit,
          target,
        ),
      (err: unknown) => {
        throw err instanceof Error ? err : new StreamError(String(err), target);
      },
    );
  }
  return send(nc, subject, wire, undefined, options, limit, target);
}

/** Encodes the request head (its body streamed when `stream` is given or it is too large) and starts the exchange. */
function send(
  nc: NatsConnection,
  subject: string,
  wire: WireRequest,
  stream: ChunkReader | undefined,
  options: CallOptions,
  limit: number | undefined,
  target: CallTarget,
): Promise<WireResponse> {
  let body: ChunkReader | undefined;
  let head: Uint8Array;
  if (stream !== undefined) {
    wire.body = EMPTY;
    body = stream;
    head = encodeRequest(wire, true);
  } else {
    head = encodeRequest(wire);
    if (limit !== undefined && head.byteLength > limit) {
      // Too large for one message: the bytes stream to the instance, their length declared.
      const bytes = wire.body;
      body = new ChunkReader(bytes);
      wire.body = EMPTY;
      if (!hasContentLength(wire.headers))
        wire.headers = [...wire.headers, "content-length", String(bytes.byteLength)];
      head = encodeRequest(wire, true);
    }
  }
  if (limit !== undefined && head.byteLength > limit) {
    body?.cancel();
    return Promise.reject(new PayloadTooLargeError(head.byteLength, limit, target));
  }
  return new CallExchange(muxFor(nc), subject, head, {
    timeout: options.timeout,
    signal: options.signal,
    target,
    batch: options.batch,
    heartbeat: wire.heartbeat ?? 0,
    window: wire.window ?? 0,
    body,
    chunkSize: chunkSizeFor(limit),
    method: wire.method,
    resendable: options.resendable,
  }).response;
}

function hasContentLength(headers: string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length === 14 && headers[i]!.toLowerCase() === "content-length") return true;
  }
  return false;
}
