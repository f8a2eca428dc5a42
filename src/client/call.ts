import type { NatsConnection } from "@nats-io/nats-core";
import type { Context } from "@opentelemetry/api";
import {
  ConnectionClosedError,
  decodeResponse,
  encodeRequest,
  PayloadTooLargeError,
  requestSubject,
  type WireRequest,
  type WireResponse,
} from "../protocol/index.js";
import { endSpan, failSpan, startClientSpan } from "../tracing/index.js";
import { muxFor } from "./mux.js";

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
}

/**
 * Sends one HTTP request to `service` over NATS and waits for its response. This is the request path
 * shared by `createFetch`, the undici `MeshDispatcher` and the gateway. With an OpenTelemetry tracer
 * provider registered, the call is a CLIENT span whose context travels in the request's `traceparent`.
 *
 * @throws {@link PayloadTooLargeError} when the request does not fit in one message.
 * @throws {@link NoRespondersError}, {@link TimeoutError}, {@link ConnectionClosedError}, {@link BadResponseError}.
 */
export async function callService(
  nc: NatsConnection,
  service: string,
  request: WireRequest,
  options: CallOptions,
): Promise<WireResponse> {
  const subject = requestSubject(options.prefix, service, request.method);
  const call = startClientSpan(service, subject, request, options.parent);
  if (call === undefined) return exchange(nc, service, subject, request, options);
  try {
    const res = await exchange(nc, service, subject, call.request, options);
    endSpan(call.span, res.status);
    return res;
  } catch (err) {
    failSpan(call.span, err);
    throw err;
  }
}

async function exchange(
  nc: NatsConnection,
  service: string,
  subject: string,
  request: WireRequest,
  options: CallOptions,
): Promise<WireResponse> {
  const target = { service, subject };
  if (nc.isClosed()) throw new ConnectionClosedError(target);
  const payload = encodeRequest(request);
  const limit = nc.info?.max_payload;
  if (limit !== undefined && payload.byteLength > limit) {
    throw new PayloadTooLargeError(payload.byteLength, limit, target);
  }
  const data = await muxFor(nc).request(subject, payload, {
    timeout: options.timeout,
    signal: options.signal,
    target,
    batch: options.batch,
  });
  return decodeResponse(data, target);
}
