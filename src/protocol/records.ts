/**
 * The neutral shapes an HTTP exchange takes inside natsmesh. The wire codec produces and consumes
 * them; each edge (fetch client, Fetch adapter, Node adapter, gateway) converts from them once.
 */

/**
 * Header list: names and values alternating, `[name0, value0, name1, value1, ...]`. Order and repeated
 * names are kept (multi-valued headers); names keep the case the sender used.
 */
export type HeaderList = string[];

/** An HTTP request as it travels over NATS. */
export interface WireRequest {
  /** HTTP method as sent, e.g. `GET`. */
  method: string;
  /** Path with query string, starting with `/`, e.g. `/city?q=london`. */
  path: string;
  /** Request headers (hop-by-hop headers removed). */
  headers: HeaderList;
  /**
   * Request body; empty when there is none. With {@link WireRequest.stream} set, the bytes the first
   * message carries (a receiver moves them into the stream) and the rest follows in chunks.
   */
  body: Uint8Array;
  /** A body sent in chunks (PROTOCOL.md §8): of unknown length, or larger than one message. */
  stream?: ReadableStream<Uint8Array> | undefined;
  /**
   * Chunk credit the caller grants a streamed response from the start (reserved header
   * `mesh-window`); absent when the caller can only take a response in one message.
   */
  window?: number | undefined;
  /**
   * Milliseconds within which the caller expects to hear from the service while it works (reserved
   * header `mesh-heartbeat`); absent for none.
   */
  heartbeat?: number | undefined;
  /** Set by the decoder on a request whose body follows in chunks (kind 0x07). */
  streamed?: boolean | undefined;
}

/** An HTTP response as it travels over NATS. */
export interface WireResponse {
  /** Status code, 100–599. */
  status: number;
  /** Reason phrase; may be empty. */
  statusText: string;
  /** Response headers (hop-by-hop headers removed). */
  headers: HeaderList;
  /**
   * Response body; empty when there is none. With {@link WireResponse.stream} set, the bytes the first
   * message carries and the rest follows in chunks.
   */
  body: Uint8Array;
  /** A body sent in chunks (PROTOCOL.md §8): of unknown length, or larger than one message. */
  stream?: ReadableStream<Uint8Array> | undefined;
  /** Set by the decoder on a response whose body follows in chunks (kind 0x08). */
  streamed?: boolean | undefined;
  /**
   * Set by the decoder when the response carried `mesh-heartbeat` (removed from `headers`): the
   * instance honours heartbeats and acknowledgements (PROTOCOL.md §8.4).
   */
  heartbeat?: true | undefined;
}

/** Looks up the first value of a header (case-insensitive) in a {@link HeaderList}. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === lower) return headers[i + 1];
  }
  return undefined;
}

/**
 * A method a `Response` subclass may have that hands over its whole body as bytes, marking the body
 * used, or returns undefined when the body is no longer whole in memory (already read, or its stream
 * taken). The client's `MeshResponse` has it, so a service that answers with a Response it fetched
 * over the mesh (a proxy) sends the bytes without a stream in between.
 */
export const TAKE_BYTES: unique symbol = Symbol.for("natsmesh.takeBytes");
