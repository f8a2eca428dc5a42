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
  controlSubject,
  describeInstance,
  ENDPOINT_NAME,
  type EndpointCounters,
  type InstanceFacts,
  infoResponse,
  MetadataKey,
  type MicroDescription,
  type MicroEndpointInfo,
  type MicroEndpointStats,
  type MicroIdentity,
  type MicroInfoResponse,
  type MicroPingResponse,
  type MicroResponses,
  MicroResponseType,
  type MicroStatsResponse,
  MicroVerb,
  pingResponse,
  SRV_PREFIX,
  serviceNameOf,
  statsResponse,
} from "./documents.js";
export { assertMicroId, assertVersion, DEFAULT_VERSION, MICRO_NAME, microName, SEMVER } from "./names.js";
export { DEFAULT_QUERY_TIMEOUT, type QueryOptions, type QueryReply, queryServices } from "./query.js";
export { answerDiscovery, type DiscoveryResponder } from "./responder.js";
