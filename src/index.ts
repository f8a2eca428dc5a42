/**
 * natsmesh: HTTP microservices over NATS. This entry point is the stable API: everything it exports
 * is a semver promise.
 *
 * - {@link createFetch} / {@link MeshDispatcher}: call a service over NATS with `fetch` or undici.
 * - {@link serve}: serve an existing Node or Fetch handler over NATS, in a queue group.
 * - {@link connect}: a NATS connection configured from the standard NATS environment.
 * - {@link MeshError} and its subclasses, with the stable codes of {@link ErrorCode}.
 *
 * What users configure beyond that has its own entry point: `natsmesh/gateway`, `natsmesh/traffic`,
 * `natsmesh/discovery`, `natsmesh/metrics`, `natsmesh/log`, `natsmesh/tap`, `natsmesh/dev`. `natsmesh/internal` is
 * the machinery, without promise (docs/ARCHITECTURE.md, "Public surface").
 *
 * @example
 * ```ts
 * import { createFetch, serve } from "natsmesh";
 * const svc = await serve((req) => new Response("hi"), { service: "hello" });
 * const fetch = createFetch();
 * console.log(await (await fetch("http://hello.nats/")).text());
 * ```
 *
 * @module
 */

export type { CallerReportsOption } from "./client/caller-tally.js";
export type { ClientEjectOption } from "./client/client-ejection.js";
export { type DispatcherOptions, MeshDispatcher, type MeshDispatchOptions } from "./client/dispatcher.js";
export {
  createFetch,
  type ExternalRedirect,
  type FetchAllInit,
  type FetchOptions,
  type MeshFetch,
  type MeshRequestInit,
} from "./client/fetch.js";
export { connect, type NatsConnection } from "./connect/connect.js";
export { ConfigError, ConnectError } from "./connect/errors.js";
export type { AnyConnection, MeshConnection } from "./connect/mesh-connection.js";
export type { MeshConnectOptions } from "./connect/options.js";
export { TlsHandshakeError } from "./connect/tls-diagnosis.js";
export type { DurableOptions } from "./durable/index.js";
export {
  BadResponseError,
  type CallTarget,
  ClosedError,
  ConnectionClosedError,
  ErrorCode,
  InstanceLostError,
  InvalidServiceError,
  MalformedMessageError,
  MeshError,
  type MeshErrorOptions,
  NoRespondersError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RedirectError,
  RedirectOutsideError,
  StreamError,
  TimeoutError,
} from "./protocol/errors.js";
export { PublicLightResponse as LightResponse } from "./server/adapters/light-response.js";
export type { FastifyApp, FetchApp, FetchHandler, Handler, NodeListener } from "./server/adapters/types.js";
export type { HandlerKind } from "./server/handler.js";
export {
  type AccessRecordOptions,
  type DedupeOptions,
  type ServeOptions,
  type ServiceHandle,
  type ServiceStats,
  type StopOptions,
  serve,
} from "./server/index.js";
export { CircuitOpenError } from "./traffic/breaker.js";
export type { ClientHedgeSettings, RetrySettings } from "./traffic/call-guard.js";
export type { HedgeCallSettings, HedgeSettings } from "./traffic/hedge-policy.js";
export type { RetryEvent } from "./traffic/retry.js";
export type { BreakerSettings } from "./traffic/service-breakers.js";
export type { HedgeChoice } from "./traffic/service-hedging.js";
