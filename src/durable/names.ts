/**
 * The names of durable requests (PROTOCOL.md §13.1): subjects, the stream, the consumer, the record
 * keys and request ids. Pure.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { nuid } from "@nats-io/nats-core";
import { methodToken } from "../protocol/index.js";

/** The subject token between a service and a durable request's method. */
export const DURABLE_TOKEN = "$DURABLE";

/** The durable pull consumer every instance of a service works the stream with. */
export const CONSUMER_NAME = "natsmesh";

/** The default KV bucket of records (states and answers). */
export const DEFAULT_BUCKET = "natsmesh-durable";

/** A request id: one subject token of `[A-Za-z0-9_-]`, 1–64 characters. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The id of a durable request: `base64url(SHA-256(Idempotency-Key))` for a request with a key (the
 * same key names the same request), else a random NUID.
 *
 * @param idempotencyKey - the request's `Idempotency-Key`, if any
 * @example
 * ```ts
 * requestId("order-42"); // the same 43 characters every time
 * ```
 */
export function requestId(idempotencyKey?: string): string {
  if (idempotencyKey === undefined || idempotencyKey === "") return nuid.next();
  return createHash("sha256").update(idempotencyKey).digest("base64url");
}

/** The subject a durable request is published to: `<prefix>.<service>.$DURABLE.<method>.<id>`. */
export function durableSubject(prefix: string, service: string, method: string, id: string): string {
  return `${prefix}.${service}.${DURABLE_TOKEN}.${methodToken(method)}.${id}`;
}

/** The subjects of a service's stream: `<prefix>.<service>.$DURABLE.*.*`. */
export function streamSubject(prefix: string, service: string): string {
  return `${prefix}.${service}.${DURABLE_TOKEN}.*.*`;
}

/** The filter that finds request `id` in the stream, whatever its method. */
export function lookupSubject(prefix: string, service: string, id: string): string {
  return `${prefix}.${service}.${DURABLE_TOKEN}.*.${id}`;
}

/** The stream of a service: `NM-DURABLE-<prefix>-<service>`, dots replaced by `_`. */
export function streamName(prefix: string, service: string): string {
  return `NM-DURABLE-${prefix}-${service}`.replaceAll(".", "_");
}

/** The KV key of request `id`'s record: `<prefix>.<service>.<id>`. */
export function recordKey(prefix: string, service: string, id: string): string {
  return `${prefix}.${service}.${id}`;
}

/** The id and method token of a durable subject, or undefined for a subject of another shape. */
export function parseDurableSubject(subject: string): { method: string; id: string } | undefined {
  const tokens = subject.split(".");
  if (tokens.length < 5 || tokens[tokens.length - 3] !== DURABLE_TOKEN) return undefined;
  return { method: tokens[tokens.length - 2]!, id: tokens[tokens.length - 1]! };
}

/**
 * A request's fingerprint: SHA-256 over its method, path (with query) and body, base64url. The same
 * `Idempotency-Key` with another fingerprint is another request (422).
 */
export function fingerprint(method: string, path: string, body: Uint8Array): string {
  return createHash("sha256").update(`${method.toUpperCase()}\n${path}\n`).update(body).digest("base64url");
}
