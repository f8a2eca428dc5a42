/**
 * Discovery with the NATS micro protocol (ADR-32): every `serve()` instance answers
 * `$SRV.PING|INFO|STATS`, so `nats micro ls`, `@nats-io/services` clients and `natsmesh services`
 * see natsmesh services.
 *
 * @example
 * ```ts
 * import { queryServices } from "natsmesh/discovery";
 * const stats = await queryServices(nc, "STATS", { service: "weather", timeout: 500 });
 * ```
 *
 * @module
 */
export {
  MetadataKey,
  type MicroEndpointInfo,
  type MicroEndpointStats,
  type MicroIdentity,
  type MicroInfoResponse,
  type MicroPingResponse,
  type MicroResponses,
  type MicroStatsResponse,
  MicroVerb,
} from "./documents.js";
export { DEFAULT_QUERY_TIMEOUT, type QueryOptions, type QueryReply, queryServices } from "./query.js";
