/**
 * Durable requests from the fetch client (`createFetch({ durable: true })`, PROTOCOL.md §13): a
 * request with `Prefer: respond-async` (or `init.durable`) is stored in the service's JetStream
 * stream and answered 202 with `Location: http://<host>/$requests/<id>`; a GET of that URL answers
 * the request's status, then its stored answer.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  acceptedResponse,
  DurableStores,
  prefersAsync,
  STATUS_SEGMENT,
  statusIdOf,
  statusResponse,
} from "../durable/index.js";
import { PayloadTooLargeError, type WireRequest, type WireResponse } from "../protocol/index.js";

/** What a call is, for durable requests: a submission, a status read, or neither. */
export type DurableIntent = { kind: "submit" } | { kind: "status"; id: string } | undefined;

/**
 * What the client does with `request`: submit it (forced per call, or `Prefer: respond-async` with
 * the client's `durable` on), read a status resource (a GET or HEAD of `/$requests/<id>` with
 * `durable` on), or neither.
 */
export function durableIntent(
  request: WireRequest,
  clientDurable: boolean,
  callDurable: boolean | undefined,
): DurableIntent {
  if (callDurable === true) return { kind: "submit" };
  if (!clientDurable || callDurable === false) return undefined;
  const method = request.method.toUpperCase();
  if (method === "GET" || method === "HEAD") {
    const id = statusIdOf("", request.path);
    if (id !== undefined) return { kind: "status", id };
  }
  const prefer: string[] = [];
  for (let i = 0; i < request.headers.length; i += 2)
    if (request.headers[i]!.toLowerCase() === "prefer") prefer.push(request.headers[i + 1]!);
  return prefersAsync(prefer) ? { kind: "submit" } : undefined;
}

/** The durable side of one fetch client: a `DurableStore` per connection ({@link DurableStores}). */
export class DurableCalls {
  readonly #stores = new DurableStores();

  /**
   * Submits or reads, as `intent` says, and answers as the gateway would (202 with `Location`, the
   * status, the stored answer).
   *
   * @throws MeshError `NM_ERR_DURABLE_UNAVAILABLE`, `NM_ERR_DURABLE_FULL` (503),
   *   PayloadTooLargeError (413) for a request that does not fit one message
   */
  async run(
    nc: NatsConnection,
    prefix: string,
    service: string,
    hostname: string,
    request: WireRequest,
    intent: NonNullable<DurableIntent>,
  ): Promise<WireResponse> {
    const store = this.#stores.of(nc, prefix);
    if (intent.kind === "status")
      return statusResponse(service, intent.id, await store.lookup(service, intent.id));
    const whole = await wholeBody(request, nc.info?.max_payload ?? Number.POSITIVE_INFINITY, service);
    let key: string | undefined;
    for (let i = 0; i < request.headers.length && key === undefined; i += 2)
      if (request.headers[i]!.toLowerCase() === "idempotency-key") key = request.headers[i + 1];
    const submitted = await store.submit(service, whole, key);
    return acceptedResponse(service, submitted, `http://${hostname}/${STATUS_SEGMENT}/${submitted.id}`);
  }
}

/** The request with its body in one piece: a streamed body is read, up to `max` bytes. */
async function wholeBody(request: WireRequest, max: number, service: string): Promise<WireRequest> {
  if (request.stream === undefined) return request;
  const parts: Uint8Array[] = request.body.byteLength > 0 ? [request.body] : [];
  let size = request.body.byteLength;
  const reader = request.stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    size += r.value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new PayloadTooLargeError(size, max, { service });
    }
    parts.push(r.value);
  }
  return { ...request, body: Buffer.concat(parts, size), stream: undefined };
}
