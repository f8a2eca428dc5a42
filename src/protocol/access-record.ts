/**
 * Access records (PROTOCOL.md §11): what an instance publishes about each answered request, for taps
 * and audit accounts. One message carries one or more records, one compact JSON object per line.
 * Never a body, never a header value; the path without its query.
 *
 * @module
 */

/** Version of the record format; a record with another `v` is skipped by readers of this one. */
export const ACCESS_RECORD_VERSION = 1;

/**
 * One answered request, as an instance reports it.
 *
 * @example
 * ```ts
 * for await (const r of await tap("orders")) {
 *   if (r.status >= 500) console.log(new Date(r.time).toISOString(), r.instance, r.method, r.path, r.status, `${r.ms} ms`, r.requestId);
 * }
 * ```
 */
export interface AccessRecord {
  /** When the answer was sent: milliseconds since the epoch. */
  time: number;
  /** The service name. */
  service: string;
  /** The answering instance's id (`mesh-instance`). */
  instance: string;
  /** The request method as sent (`GET`). */
  method: string;
  /** The request path without its query (`/orders/42`). */
  path: string;
  /** The answer's status; 499 when the caller gave up first. */
  status: number;
  /** Milliseconds from the handler's start to the answer (rounded to µs). */
  ms: number;
  /** The request id (`x-request-id`): the caller's, or the one the instance generated. */
  requestId: string;
}

/**
 * The path of a request target without its query: what a record keeps. Query strings carry tokens
 * and personal data as header values do (`?token=`, `?email=`), so records leave them out.
 *
 * @param target - the request target, e.g. `/orders?id=1`
 * @returns the part before `?`
 * @example
 * ```ts
 * recordPath("/orders/42?token=x"); // "/orders/42"
 * ```
 */
export function recordPath(target: string): string {
  const q = target.indexOf("?");
  return q < 0 ? target : target.slice(0, q);
}

/**
 * One record as its line of JSON (without the newline): `{"v":1,"time":…,…}`.
 *
 * @param r - the record
 * @returns the JSON text
 * @example
 * ```ts
 * encodeAccessRecord({ time: 0, service: "s", instance: "i", method: "GET", path: "/", status: 200, ms: 1, requestId: "r" });
 * ```
 */
export function encodeAccessRecord(r: AccessRecord): string {
  // A template, not JSON.stringify of an object: the same text (numbers print alike), half the cost.
  const ms = Number.isFinite(r.ms) ? r.ms : 0;
  return `{"v":${ACCESS_RECORD_VERSION},"time":${r.time},"service":${JSON.stringify(r.service)},"instance":${JSON.stringify(r.instance)},"method":${JSON.stringify(r.method)},"path":${JSON.stringify(r.path)},"status":${r.status},"ms":${ms},"requestId":${JSON.stringify(r.requestId)}}`;
}

/**
 * What {@link decodeAccessRecords} found in one message.
 *
 * @example
 * ```ts
 * const { records, malformed } = decodeAccessRecords(msg.data);
 * ```
 */
export interface DecodedRecords {
  /** The well-formed records, in order. */
  records: AccessRecord[];
  /** Lines that were not a record of this version (skipped). */
  malformed: number;
}

const decoder = new TextDecoder();

/**
 * Reads the records of one message: one JSON object per line; empty lines are ignored, a line that
 * is not a version-1 record with every field of its type is counted and skipped.
 *
 * @param data - the message payload
 * @returns the records and the number of lines skipped
 * @example
 * ```ts
 * const { records, malformed } = decodeAccessRecords(msg.data);
 * ```
 */
export function decodeAccessRecords(data: Uint8Array): DecodedRecords {
  const records: AccessRecord[] = [];
  let malformed = 0;
  for (const line of decoder.decode(data).split("\n")) {
    if (line === "") continue;
    const r = parseLine(line);
    if (r) records.push(r);
    else malformed++;
  }
  return { records, malformed };
}

function parseLine(line: string): AccessRecord | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null) return undefined;
  const r = o as Record<string, unknown>;
  if (r.v !== ACCESS_RECORD_VERSION) return undefined;
  const { time, service, instance, method, path, status, ms, requestId } = r;
  if (
    typeof time !== "number" ||
    typeof service !== "string" ||
    typeof instance !== "string" ||
    typeof method !== "string" ||
    typeof path !== "string" ||
    typeof status !== "number" ||
    typeof ms !== "number" ||
    typeof requestId !== "string" ||
    !Number.isFinite(time) ||
    !Number.isInteger(status) ||
    !Number.isFinite(ms)
  )
    return undefined;
  return { time, service, instance, method, path, status, ms, requestId };
}
