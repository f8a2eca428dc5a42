/**
 * Reads one request header as a single string.
 */
import type { IncomingHttpHeaders } from "node:http";

/**
 * The value of a request header, with repeated values joined by `, ` (Node keeps lists for a few
 * names only).
 *
 * @param headers - the request headers (lower-case names)
 * @param name - a lower-case header name
 * @returns the value, or `undefined` when the header is absent
 * @example
 * ```ts
 * incomingHeader({ origin: "https://app.example.com" }, "origin"); // "https://app.example.com"
 * ```
 */
export function incomingHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}
