/**
 * One structured access log line per request.
 *
 * @module
 */
import type { Logger } from "pino";

/** The fields of one access log line. */
export interface AccessEntry {
  /** Request method. */
  method: string;
  /** Request path without its query (queries may carry secrets). */
  path: string;
  /** Status answered; 499 when the client went away first. */
  status: number;
  /** Milliseconds from arrival to the end of the answer. */
  durationMs: number;
  /** Route name (`none` without a route). */
  route: string;
  /** Service called, if any. */
  service: string;
  /** Answering instance (`mesh-instance`), if a service answered. */
  instance: string | undefined;
  /** The request id returned to the caller. */
  requestId: string;
  /** The failure's code, for answers the gateway produced. */
  code?: string | undefined;
}

/**
 * Writes an access log line at `info` (`warn` for 5xx), message `request`.
 *
 * @param logger - the gateway's pino logger
 * @param entry - the line's fields
 * @example
 * ```ts
 * logAccess(logger, { method: "GET", path: "/weather/city", status: 200, durationMs: 3.1, route: "default",
 *   service: "weather", instance: "NUID", requestId: "abc" });
 * ```
 */
export function logAccess(logger: Logger, entry: AccessEntry): void {
  if (entry.status >= 500) logger.warn(entry, "request");
  else logger.info(entry, "request");
}
