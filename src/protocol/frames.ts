import { MAGIC_0, MAGIC_1, PREFIX_SIZE, VERSION } from "./codec.js";
import { type CallTarget, StreamError } from "./errors.js";

/**
 * The stream frames of a multi-message exchange (PROTOCOL.md §8): chunk, end, credit and abort. They
 * share the 8-byte prefix of every natsmesh message; bytes 4–7 hold a 32-bit number instead of a head
 * length, and the payload after the prefix is the frame's body.
 *
 * ```
 * kind 3 chunk   number = sequence (1, 2, ...)     body = the chunk's bytes (at least 1)
 * kind 4 end     number = sequence (last chunk + 1) body = empty
 * kind 5 credit  number = chunks granted; 0 = heartbeat  body = empty
 * kind 6 abort   number = 0                          body = UTF-8 "<code> <reason>"
 * ```
 */
export const FrameKind = { Chunk: 3, End: 4, Credit: 5, Abort: 6 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** A decoded stream frame. */
export interface Frame {
  kind: FrameKind;
  /** Sequence number (chunk, end) or credit (credit); 0 for abort. */
  n: number;
  /** Chunk bytes, or the abort reason's UTF-8 bytes; empty otherwise. */
  body: Uint8Array;
}

const EMPTY = new Uint8Array(0);
/** Longest abort reason sent or read, in bytes. */
export const MAX_ABORT_REASON = 1024;

/**
 * Lays out one stream frame.
 *
 * @param kind - chunk, end, credit or abort.
 * @param n - the frame's 32-bit number (0 … 2³²−1).
 * @param body - chunk bytes; must be empty for end and credit.
 */
export function encodeFrame(kind: FrameKind, n: number, body: Uint8Array = EMPTY): Uint8Array {
  const out = Buffer.allocUnsafe(PREFIX_SIZE + body.byteLength);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = VERSION;
  out[3] = kind;
  out.writeUInt32BE(n >>> 0, 4);
  if (body.byteLength > 0) out.set(body, PREFIX_SIZE);
  return out;
}

/** An abort frame whose body says `<code> <message>` (cut to {@link MAX_ABORT_REASON} bytes). */
export function encodeAbort(code: string, message: string): Uint8Array {
  const text = Buffer.from(`${code} ${message}`, "utf8").subarray(0, MAX_ABORT_REASON);
  return encodeFrame(FrameKind.Abort, 0, text);
}

/** The message kind (byte 3) of a natsmesh payload, or 0 when it has no valid prefix. */
export function kindOf(data: Uint8Array): number {
  if (data.byteLength < PREFIX_SIZE || data[0] !== MAGIC_0 || data[1] !== MAGIC_1 || data[2] !== VERSION)
    return 0;
  return data[3]!;
}

/**
 * Decodes a stream frame.
 *
 * @throws {@link StreamError} when the payload is not a well-formed chunk, end, credit or abort.
 */
export function decodeFrame(data: Uint8Array, target: CallTarget = {}): Frame {
  const kind = kindOf(data);
  if (kind < FrameKind.Chunk || kind > FrameKind.Abort) {
    throw new StreamError(
      kind === 0 ? "not a natsmesh message" : `message kind ${kind} is not a stream frame`,
      target,
    );
  }
  const n = ((data[4]! << 24) | (data[5]! << 16) | (data[6]! << 8) | data[7]!) >>> 0;
  const body = data.byteLength > PREFIX_SIZE ? data.subarray(PREFIX_SIZE) : EMPTY;
  if (kind === FrameKind.Chunk && body.byteLength === 0) throw new StreamError(`chunk ${n} is empty`, target);
  if ((kind === FrameKind.End || kind === FrameKind.Credit) && body.byteLength > 0)
    throw new StreamError(`${kind === FrameKind.End ? "end" : "credit"} frame with a body`, target);
  if (kind === FrameKind.Abort && (n !== 0 || body.byteLength > MAX_ABORT_REASON))
    throw new StreamError("malformed abort frame", target);
  return { kind: kind as FrameKind, n, body };
}

/** The `code` and `message` of an abort frame's body (`NM_ERR_STREAM` when it names no code). */
export function abortReason(body: Uint8Array): { code: string; message: string } {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
  const sp = text.indexOf(" ");
  const code = sp > 0 ? text.slice(0, sp) : text;
  if (!/^NM_ERR_[A-Z_]+$/.test(code)) return { code: "NM_ERR_STREAM", message: text };
  return { code, message: sp > 0 ? text.slice(sp + 1) : "" };
}
