/**
 * What the deduplication store keeps per `Idempotency-Key`, and how a key and a request's
 * fingerprint are derived. Pure: no I/O.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { decodeResponse, encodeResponse, type WireRequest, type WireResponse } from "../protocol/index.js";

/** The request header whose value names a request to deduplicate (IETF httpapi Idempotency-Key draft). */
export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";

/** The response header set on an answer replayed from the store, as Stripe's API does. */
export const REPLAYED_HEADER = "idempotent-replayed";

/** Where a key's first execution is. */
export const RecordState = {
  /** An instance claimed the key and runs the handler; it renews the record while it runs. */
  Running: "running",
  /** The handler answered; the answer is kept and replayed to repeats. */
  Done: "done",
  /** The handler answered, but its answer was too large to keep: repeats get an error saying so. */
  NotKept: "not-kept",
} as const;
export type RecordState = (typeof RecordState)[keyof typeof RecordState];

/** One key's record. */
export interface DedupeRecord {
  state: RecordState;
  /** The first request's fingerprint ({@link fingerprint}): a repeat must match it. */
  fingerprint: string;
  /** The instance that claimed the key (for logs). */
  instance: string;
  /**
   * A nonce of the execution that claimed the key (absent in records of older versions): it makes
   * each claim's bytes unique, so a write whose answer was lost can be recognised as done.
   */
  claim?: string | undefined;
  /** With {@link RecordState.Done}: the answer, without provenance headers. */
  answer?: WireResponse | undefined;
  /** With {@link RecordState.NotKept}: the answer's status and body size, for the error message. */
  status?: number | undefined;
  size?: number | undefined;
}

/**
 * The store key of a user's `Idempotency-Key` for one service: `<service>.<sha-256 hex>`. Hashing
 * makes any string a valid KV key of fixed length; the service makes keys of two services distinct.
 *
 * @param service - a service name (a valid subject token sequence)
 * @param idempotencyKey - the header's value, as sent
 */
export function recordKey(service: string, idempotencyKey: string): string {
  return `${service}.${createHash("sha256").update(idempotencyKey).digest("hex")}`;
}

/**
 * A request's fingerprint: SHA-256 over its method, path (with query) and body, base64url. A repeat
 * with the same key and another fingerprint is a different request (422). Headers are left out: a
 * retry may differ in tracing or request-id headers.
 */
export function fingerprint(req: WireRequest): string {
  return createHash("sha256")
    .update(`${req.method.toUpperCase()}\n${req.path}\n`)
    .update(req.body)
    .digest("base64url");
}

const NEWLINE = 0x0a;

/** A record as stored: one JSON line, then (with an answer) the answer in the wire format. */
export function encodeRecord(record: DedupeRecord): Uint8Array {
  const { answer, ...meta } = record;
  const head = Buffer.from(`${JSON.stringify(meta)}\n`);
  if (answer === undefined) return head;
  return Buffer.concat([head, encodeResponse({ ...answer, stream: undefined })]);
}

/**
 * Reads a stored record back.
 *
 * @throws Error for bytes that are not a record (another program wrote to the bucket).
 */
export function decodeRecord(data: Uint8Array): DedupeRecord {
  const end = data.indexOf(NEWLINE);
  if (end < 0) throw new Error("not a deduplication record");
  const meta = JSON.parse(Buffer.from(data.subarray(0, end)).toString()) as DedupeRecord;
  const known: readonly string[] = Object.values(RecordState);
  if (!known.includes(meta.state) || typeof meta.fingerprint !== "string") {
    throw new Error("not a deduplication record");
  }
  if (meta.state === RecordState.Done) meta.answer = decodeResponse(data.subarray(end + 1));
  return meta;
}
