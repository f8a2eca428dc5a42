import { Buffer, isUtf8 } from "node:buffer";
import { BadResponseError, MalformedMessageError, type MeshErrorOptions } from "./errors.js";
import { StreamHeader } from "./headers.js";
import type { HeaderList, WireRequest, WireResponse } from "./records.js";

/**
 * Wire codec: how one HTTP request or response is laid into one NATS message payload.
 *
 * ```
 * offset 0    2 bytes  magic 0x4E 0x4D ("NM")
 * offset 2    1 byte   protocol version (1)
 * offset 3    1 byte   message kind (1 = request, 2 = response; 7 and 8: the same, body streams)
 * offset 4    4 bytes  head length H, unsigned big-endian
 * offset 8    H bytes  head, UTF-8 text lines, each ending in "\n":
 *                        request first line:  METHOD " " PATH-WITH-QUERY
 *                        response first line: STATUS " " REASON      (REASON may be empty)
 *                        then one line per header: NAME ": " VALUE
 * offset 8+H           body bytes, to the end of the payload
 * ```
 * No NATS headers are used: a text head in the payload is the cheapest of the layouts measured in
 * bench/wire, NATS headers and a JSON head included (PROTOCOL.md; figures in BENCHMARKS.md).
 */

/** First two bytes of every natsmesh payload. */
export const MAGIC_0 = 0x4e;
export const MAGIC_1 = 0x4d;
/** Protocol version this codec writes and reads. */
export const VERSION = 1;
/** Message kinds (byte 3); 3–6 are the stream frames of frames.ts. */
export const Kind = {
  /** A request whose whole body is in this message. */
  Request: 1,
  /** A response whose whole body is in this message. */
  Response: 2,
  /** A piece of a streamed body; the 32-bit field is its sequence number (1, 2, ...). */
  Chunk: 3,
  /** End of a streamed body; the 32-bit field is its sequence number (last chunk's + 1). */
  End: 4,
  /** Credit for N more chunks (the 32-bit field); N = 0 is a heartbeat. */
  Credit: 5,
  /** The exchange is abandoned; the body says why. */
  Abort: 6,
  /** A request head (and the body's first bytes); the rest of the body follows in chunks. */
  StreamRequest: 7,
  /** A response head (and the body's first bytes); the rest of the body follows in chunks. */
  StreamResponse: 8,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];
/** Size of the fixed prefix before the head. */
export const PREFIX_SIZE = 8;
/** Largest head accepted, in bytes: a bound against absurd headers. */
export const MAX_HEAD_SIZE = 1 << 20;
/** Largest `mesh-window` accepted (chunks of credit granted at once). */
export const MAX_WINDOW = 1024;
/** Bounds of `mesh-heartbeat`, in milliseconds. */
export const MIN_HEARTBEAT = 50;
export const MAX_HEARTBEAT = 600_000;

/** The body of a message that has none (shared; nobody writes into zero bytes). */
const EMPTY_BODY: Uint8Array = Buffer.alloc(0);

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * Whether bytes `start`–`end` hold a control character other than HTAB and the line separator (never
 * valid in a head). Checked on the bytes, before decoding: in UTF-8 a byte below 0x80 is always that
 * character, and this loop is cheaper than a regular expression over the decoded head.
 */
function hasControl(data: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = data[i]!;
    if ((c < 32 && c !== 9 && c !== 10) || c === 127) return true;
  }
  return false;
}

function frame(kind: Kind, head: string, body: Uint8Array): Uint8Array {
  const headLen = Buffer.byteLength(head, "utf8");
  const out = Buffer.allocUnsafe(PREFIX_SIZE + headLen + body.byteLength);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = VERSION;
  out[3] = kind;
  out.writeUInt32BE(headLen, 4);
  out.write(head, PREFIX_SIZE, "utf8");
  if (body.byteLength > 0) out.set(body, PREFIX_SIZE + headLen);
  return out;
}

function headLines(first: string, headers: HeaderList): string {
  let head = `${first}\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\n`;
  return head;
}

/**
 * Encodes a request into one NATS payload: kind 1, or kind 7 (the head of a request whose body follows
 * in chunks) when `streamed`. The caller guarantees a valid request (token method and
 * names, no line breaks in path or values); {@link decodeRequest} checks all of it on the other side.
 *
 * @example
 * ```ts
 * const payload = encodeRequest({ method: "GET", path: "/", headers: [], body: new Uint8Array() });
 * ```
 */
export function encodeRequest(req: WireRequest, streamed = req.stream !== undefined): Uint8Array {
  let head = headLines(`${req.method} ${req.path}`, req.headers);
  if (req.window !== undefined) head += `${StreamHeader.Window}: ${req.window}\n`;
  if (req.heartbeat !== undefined) head += `${StreamHeader.Heartbeat}: ${req.heartbeat}\n`;
  return frame(streamed ? Kind.StreamRequest : Kind.Request, head, req.body);
}

/**
 * Encodes a response into one NATS payload: kind 2, or kind 8 (the head and first bytes of a streamed
 * body) when `res.stream` is set.
 */
export function encodeResponse(res: WireResponse, streamed = res.stream !== undefined): Uint8Array {
  return frame(
    streamed ? Kind.StreamResponse : Kind.Response,
    headLines(`${res.status} ${res.statusText}`, res.headers),
    res.body,
  );
}

/**
 * Builds an error without capturing a stack trace. A message that breaks the protocol is the
 * sender's fault, not a place in this code: its stack says nothing, and capturing it was most of the
 * cost of rejecting a malformed message, which is what a flood of garbage makes a service do all day
 * (BENCHMARKS.md, "Flood").
 */
function withoutStack<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

interface Parsed {
  /** First line, split at its first space. */
  a: string;
  b: string;
  headers: HeaderList;
  body: Uint8Array;
  /** The message was the head of a streamed body (kind 7 or 8). */
  streamed: boolean;
  /** Values of the reserved `mesh-window` / `mesh-heartbeat` lines, removed from `headers`. */
  window: string | undefined;
  heartbeat: string | undefined;
}

/**
 * Splits a frame of `kind` (or `streamKind`) into its parts, or returns why it is not one: a
 * malformed payload costs no exception and no error object (a flood of garbage is rejected here, and
 * rejected cheaply). The checks of the fixed prefix come first and touch no string.
 */
function parse(data: Uint8Array, kind: Kind, streamKind: Kind): Parsed | string {
  const size = data.byteLength;
  if (size < PREFIX_SIZE) return size === 0 ? "empty payload" : `payload of ${size} bytes is too short`;
  if (data[0] !== MAGIC_0 || data[1] !== MAGIC_1) return "not a natsmesh message (bad magic bytes)";
  if (data[2] !== VERSION) return `unsupported protocol version ${data[2]}`;
  const streamed = data[3] === streamKind;
  if (data[3] !== kind && !streamed)
    return `unexpected message kind ${data[3]} (expected ${kind} or ${streamKind})`;
  const headLen = ((data[4]! << 24) | (data[5]! << 16) | (data[6]! << 8) | data[7]!) >>> 0;
  if (headLen > MAX_HEAD_SIZE) return `head of ${headLen} bytes exceeds ${MAX_HEAD_SIZE}`;
  const end = PREFIX_SIZE + headLen;
  if (end > size) return `head length ${headLen} runs past the end of a ${size}-byte payload`;
  if (hasControl(data, PREFIX_SIZE, end)) return "control character in head";
  const view = data instanceof Buffer ? data : Buffer.from(data.buffer, data.byteOffset, size);
  const head = view.toString("utf8", PREFIX_SIZE, end);
  // Invalid UTF-8 decodes to U+FFFD: only a head that has one needs the exact check (a valid head
  // may carry U+FFFD itself), which saves the check and a view of the head on every message.
  if (head.includes("\uFFFD") && !isUtf8(view.subarray(PREFIX_SIZE, end))) return "head is not valid UTF-8";
  const nl = head.indexOf("\n");
  if (nl < 0 || head.charCodeAt(head.length - 1) !== 10) return "head must be lines ending in '\\n'";
  const sp = head.indexOf(" ");
  if (sp < 0 || sp > nl) return "first line must have two parts separated by a space";
  const headers: HeaderList = [];
  let window: string | undefined;
  let heartbeat: string | undefined;
  for (let p = nl + 1; p < head.length; ) {
    const eol = head.indexOf("\n", p);
    const colon = head.indexOf(":", p);
    if (colon < 0 || colon > eol || head.charCodeAt(colon + 1) !== 32) {
      return `header line ${JSON.stringify(head.slice(p, Math.min(eol, p + 40)))} must be 'name: value'`;
    }
    const name = head.slice(p, colon);
    if (!TOKEN_RE.test(name)) return `invalid header name ${JSON.stringify(name.slice(0, 40))}`;
    const value = head.slice(colon + 2, eol);
    const c = name.charCodeAt(0);
    if ((c === 109 || c === 77) && (name.length === 11 || name.length === 14)) {
      const lower = name.toLowerCase();
      if (lower === StreamHeader.Window) window = value;
      else if (lower === StreamHeader.Heartbeat) heartbeat = value;
      else headers.push(name, value);
    } else {
      headers.push(name, value);
    }
    p = eol + 1;
  }
  return {
    a: head.slice(0, sp),
    b: head.slice(sp + 1, nl),
    headers,
    // Most requests have no body: no view of nothing allocated for them.
    body: end === size ? EMPTY_BODY : data.subarray(end),
    streamed,
    window,
    heartbeat,
  };
}

const LENGTH_RE = /^(0|[1-9][0-9]{0,15})$/;

/** The decimal number of 1–9 digits without a leading zero that `value` is, or NaN. */
function digits(value: string): number {
  const len = value.length;
  if (len === 0 || len > 9 || (len > 1 && value.charCodeAt(0) === 48)) return Number.NaN;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}

/** The number `value` states, or why it is not one within `min`-`max`. */
function bounded(value: string, name: string, min: number, max: number): number | string {
  const n = digits(value);
  if (!(n >= min && n <= max))
    return `${name} must be a number ${min}-${max}, got ${JSON.stringify(value.slice(0, 20))}`;
  return n;
}

/**
 * Decodes a request payload as {@link decodeRequest} does, but returns why it is malformed (the text
 * after `malformed message: `) instead of throwing: no exception, no error object, nothing allocated
 * for a payload whose 8-byte prefix is wrong. For a receiver that must reject garbage cheaply
 * (`serve()` under a flood).
 *
 * @example
 * ```ts
 * const req = readRequest(msg.data);
 * if (typeof req === "string") answer400(req);
 * ```
 */
export function readRequest(data: Uint8Array): WireRequest | string {
  const parsed = parse(data, Kind.Request, Kind.StreamRequest);
  if (typeof parsed === "string") return parsed;
  const { a: method, b: path, headers, body } = parsed;
  // The lower-cased method is the subject's last token: no '.', and never the wildcard '*'.
  if (!TOKEN_RE.test(method) || method.includes(".") || method === "*") {
    return `invalid method ${JSON.stringify(method.slice(0, 40))}`;
  }
  if (!(path.charCodeAt(0) === 47 || path === "*")) return "path must start with '/'";
  if (path.includes(" ")) return "path must not contain spaces";
  const req: WireRequest = { method, path, headers, body };
  if (parsed.window !== undefined) {
    const window = bounded(parsed.window, StreamHeader.Window, 1, MAX_WINDOW);
    if (typeof window === "string") return window;
    req.window = window;
  }
  if (parsed.heartbeat !== undefined) {
    const heartbeat = bounded(parsed.heartbeat, StreamHeader.Heartbeat, MIN_HEARTBEAT, MAX_HEARTBEAT);
    if (typeof heartbeat === "string") return heartbeat;
    req.heartbeat = heartbeat;
  }
  if (parsed.streamed) {
    // The length of a streamed body is known only at its end: a content-length must be a number,
    // and the receiver checks it against the bytes that arrived (PROTOCOL.md §8).
    req.streamed = true;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 14 && name.toLowerCase() === "content-length" && !LENGTH_RE.test(headers[i + 1]!))
        return `content-length ${JSON.stringify(headers[i + 1]!.slice(0, 40))} is not a number`;
    }
    return req;
  }
  const length = String(body.byteLength);
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 14 && name.toLowerCase() === "content-length" && headers[i + 1] !== length) {
      return `content-length ${JSON.stringify(headers[i + 1]!.slice(0, 40))} does not match a body of ${length} bytes`;
    }
  }
  return req;
}

/**
 * Decodes a request payload, checking every part: method token, path, header names and values, and
 * that every `content-length` line states the body's length.
 *
 * @throws {@link MalformedMessageError} when the payload does not follow the protocol.
 */
export function decodeRequest(data: Uint8Array, target: MeshErrorOptions = {}): WireRequest {
  const req = readRequest(data);
  if (typeof req === "string") throw withoutStack(() => new MalformedMessageError(req, target));
  return req;
}

/**
 * Decodes a response payload.
 *
 * @throws {@link BadResponseError} when the payload does not follow the protocol.
 */
export function decodeResponse(data: Uint8Array, target: MeshErrorOptions = {}): WireResponse {
  const fail = (message: string) => withoutStack(() => new BadResponseError(message, target));
  const parsed = parse(data, Kind.Response, Kind.StreamResponse);
  if (typeof parsed === "string") throw fail(parsed);
  const { a: code, b: statusText, headers, body } = parsed;
  const status = code.length === 3 ? Number(code) : Number.NaN;
  if (!Number.isInteger(status) || status < 100 || status > 599)
    throw fail("status must be a number 100-599");
  const res: WireResponse = { status, statusText, headers, body };
  if (parsed.streamed) res.streamed = true;
  if (parsed.heartbeat !== undefined) res.heartbeat = true;
  return res;
}
