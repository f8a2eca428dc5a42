/**
 * Durable requests at the front door (PROTOCOL.md §13, docs/GATEWAY.md): on a route with
 * `durable: true`, a request with `Prefer: respond-async` (RFC 7240) is stored in the service's
 * JetStream stream and answered 202 with `Location` of its status resource, `<route>/$requests/<id>`,
 * which is served on the same route — behind the same policies — from the stored state.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import {
  acceptedResponse,
  DurableStores,
  FULL_RETRY_AFTER,
  STATUS_SEGMENT,
  statusIdOf,
  statusResponse,
} from "../../durable/index.js";
import { ErrorCode, MeshError, type WireRequest, type WireResponse } from "../../protocol/index.js";
import { DEFAULT_ROUTE_NAME, type Route } from "../config/route.js";

/** The public path the route's status resources live under: `/<service>` on the default rule, else the prefix. */
function routeBase(route: Route, service: string): string {
  if (route.name === DEFAULT_ROUTE_NAME && route.service === "") return `/${service}`;
  return route.prefix === undefined || route.prefix === "/" ? "" : route.prefix;
}

/** The `Location` of request `id`'s status resource on `route`. */
export function statusLocation(route: Route, service: string, id: string): string {
  return `${routeBase(route, service)}/${STATUS_SEGMENT}/${id}`;
}

/** The id named by a public request target on `route`, when it is a status resource's. */
export function statusId(route: Route, service: string, target: string): string | undefined {
  return statusIdOf(routeBase(route, service), target);
}

/**
 * Submits and looks up durable requests for the gateway; every failure becomes the answer
 * PROTOCOL.md §13.2 names (413 and 503 with `Retry-After` included).
 */
export class DurableFrontDoor {
  readonly #stores = new DurableStores();
  readonly #onFailure: (err: MeshError) => void;

  /** @param onFailure - told every failure answered (its detail is for the gateway's log, not the caller) */
  constructor(onFailure: (err: MeshError) => void = () => undefined) {
    this.#onFailure = onFailure;
  }

  /** Stores `wire` for `service` and answers 202 (or the failure). */
  async submit(
    nc: NatsConnection,
    prefix: string,
    route: Route,
    service: string,
    wire: WireRequest,
    idempotencyKey: string | undefined,
  ): Promise<WireResponse> {
    try {
      const submitted = await this.#stores.of(nc, prefix).submit(service, wire, idempotencyKey);
      return acceptedResponse(service, submitted, statusLocation(route, service, submitted.id));
    } catch (err) {
      return this.#failure(err);
    }
  }

  /** Answers request `id`'s status resource. */
  async status(nc: NatsConnection, prefix: string, service: string, id: string): Promise<WireResponse> {
    try {
      return statusResponse(service, id, await this.#stores.of(nc, prefix).lookup(service, id));
    } catch (err) {
      return this.#failure(err);
    }
  }

  #failure(err: unknown): WireResponse {
    return failure(err, this.#onFailure);
  }
}

/** What a caller is told per failure: the detail (streams, NATS errors) stays in the gateway's log. */
const PUBLIC_MESSAGES: Record<string, string> = {
  [ErrorCode.DurableUnavailable]: "durable requests are not available for this service now",
  [ErrorCode.DurableFull]: "the service's durable queue is full; retry later",
  [ErrorCode.DurableMismatch]: "this Idempotency-Key was used for a different request (method, path or body)",
};

/**
 * The answer to a failed submission or lookup; an error of another kind (a body over `max_payload`:
 * 413 as any too large body) is thrown for the gateway's error mapping.
 */
function failure(err: unknown, onFailure: (err: MeshError) => void): WireResponse {
  const message = err instanceof MeshError ? PUBLIC_MESSAGES[err.code] : undefined;
  if (message === undefined) throw err;
  const e = err as MeshError;
  onFailure(e);
  const headers = ["content-type", "application/json", "mesh-error", e.code];
  if (e.code === ErrorCode.DurableFull) headers.push("retry-after", String(FULL_RETRY_AFTER));
  return {
    status: e.status,
    statusText: "",
    headers,
    body: Buffer.from(JSON.stringify({ error: message, code: e.code, status: e.status })),
  };
}
