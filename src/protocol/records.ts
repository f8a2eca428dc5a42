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
  /** Request body; empty when there is none. */
  body: Uint8Array;
}

/** An HTTP response as it travels over NATS. */
export interface WireResponse {
  /** Status code, 100–599. */
  status: number;
  /** Reason phrase; may be empty. */
  statusText: string;
  /** Response headers (hop-by-hop headers removed). */
  headers: HeaderList;
  /** Response body; empty when there is none. */
  body: Uint8Array;
}

/** Looks up the first value of a header (case-insensitive) in a {@link HeaderList}. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === lower) return headers[i + 1];
  }
  return undefined;
}
