/**
 * What the KV bucket keeps per durable request (PROTOCOL.md §13.4): one JSON line, then for `done` the
 * answer as a §2 response message, for `dead` the request message as it was stored. Pure.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { decodeResponse, encodeResponse, type WireResponse } from "../protocol/index.js";

/** Where a durable request is. `queued` without a record means "in the stream, never tried". */
export const DurableState = {
  /** Waiting in the stream: never tried, or tried and waiting for the next attempt. */
  Queued: "queued",
  /** An instance works it. */
  Running: "running",
  /** Answered: the answer is kept. */
  Done: "done",
  /** A dead letter: every attempt failed, or it cannot be worked. */
  Dead: "dead",
} as const;
export type DurableState = (typeof DurableState)[keyof typeof DurableState];

/** One durable request's record. */
export interface DurableRecord {
  state: DurableState;
  /** Attempts made (the message's delivery count when the record was written). */
  attempts: number;
  /** The instance that wrote the record. */
  instance: string;
  /** The request's method and path, for operators. */
  method: string;
  path: string;
  /** The request's fingerprint (`fingerprint()` of names.ts): a repeat of its key must match it. */
  fingerprint?: string | undefined;
  /** When the record was written (ISO 8601). */
  updated: string;
  /** With `running`: when the attempt started (ISO 8601). */
  started?: string | undefined;
  /** With `queued` after a failure, and `dead`: the last attempt's error. */
  error?: string | undefined;
  /** With `done`: the answer's status. */
  status?: number | undefined;
  /** With `done`: the answer (without provenance of the status read). */
  answer?: WireResponse | undefined;
  /** With `dead`: the request message as it was stored (§2, kind 1), so an operator can retry it. */
  request?: Uint8Array | undefined;
}

const NEWLINE = 0x0a;
const STATES: readonly string[] = Object.values(DurableState);

/**
 * A record as stored.
 *
 * @example
 * ```ts
 * encodeRecord({ state: "running", attempts: 1, instance: "i1", method: "POST", path: "/", updated: new Date().toISOString() });
 * ```
 */
export function encodeRecord(record: DurableRecord): Uint8Array {
  const { answer, request, ...meta } = record;
  const head = Buffer.from(`${JSON.stringify(meta)}\n`);
  if (answer !== undefined) return Buffer.concat([head, encodeResponse({ ...answer, stream: undefined })]);
  if (request !== undefined) return Buffer.concat([head, request]);
  return head;
}

/**
 * Reads a stored record back.
 *
 * @throws Error for bytes that are not a record (another program wrote to the bucket).
 */
export function decodeRecord(data: Uint8Array): DurableRecord {
  const end = data.indexOf(NEWLINE);
  if (end < 0) throw new Error("not a durable request record");
  const meta = JSON.parse(Buffer.from(data.subarray(0, end)).toString()) as DurableRecord;
  if (!STATES.includes(meta.state) || typeof meta.attempts !== "number")
    throw new Error("not a durable request record");
  if (meta.state === DurableState.Done) meta.answer = decodeResponse(data.subarray(end + 1));
  else if (meta.state === DurableState.Dead && data.byteLength > end + 1)
    meta.request = data.subarray(end + 1);
  return meta;
}
