/**
 * The request id the gateway forwards to the service and returns to the caller (`x-request-id`).
 *
 * @module
 */
import { randomUUID } from "node:crypto";

/** What an incoming id may look like to be kept: 1 to 128 characters of `[A-Za-z0-9._:-]`. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Keeps a valid incoming request id, or generates one (a random UUID) when it is absent or invalid.
 *
 * @param incoming - the request's `x-request-id` header (a repeated header counts as invalid)
 * @returns the id to use
 * @example
 * ```ts
 * requestId("abc-123");     // "abc-123"
 * requestId("bad id\u0000"); // a new UUID
 * ```
 */
export function requestId(incoming: string | string[] | undefined): string {
  return typeof incoming === "string" && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
}
