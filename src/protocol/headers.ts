/**
 * Header names the wire protocol reserves, and the HTTP headers that never cross a hop.
 *
 * Every name here is lower-case: the wire carries HTTP header names as the sender wrote them, but
 * comparisons are case-insensitive, as in HTTP.
 */

/** Headers natsmesh adds to responses so a caller can see who answered (provenance). */
export const MeshHeader = {
  /** Request id: kept from an incoming `x-request-id`, generated when absent. */
  RequestId: "x-request-id",
  /** Id of the service instance that answered. */
  Instance: "mesh-instance",
  /** Name of the NATS server the answering instance is connected to. */
  Server: "mesh-server",
  /** Name of the NATS cluster the answering instance is connected to (absent when not clustered). */
  Cluster: "mesh-cluster",
  /** Service name that answered. */
  Service: "mesh-service",
  /** Set on responses that natsmesh itself produced (an error, not the handler's answer). */
  Error: "mesh-error",
} as const;
export type MeshHeaderName = (typeof MeshHeader)[keyof typeof MeshHeader];

/**
 * Reserved request headers that set up a multi-message exchange (PROTOCOL.md §8). The codec turns
 * them into {@link WireRequest} fields and back; handlers never see them.
 */
export const StreamHeader = {
  /** Chunk credit the caller grants a streamed response from the start; absent: one message only. */
  Window: "mesh-window",
  /** Milliseconds within which the caller expects a sign of life while the service works. */
  Heartbeat: "mesh-heartbeat",
} as const;

/**
 * Prefix of header names reserved for the protocol. A public client (through the gateway) can never
 * set one; the server strips them from requests before the handler sees them, except the provenance
 * headers above that a caller may legitimately forward.
 */
export const RESERVED_PREFIX = "mesh-";

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) and connection-level headers that describe one HTTP
 * connection and never travel over NATS.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);

/** True when `name` (any case) is hop-by-hop and must not be forwarded. */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}
