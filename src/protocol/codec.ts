import { isUtf8 } from "node:buffer";
import { BadResponseError, MalformedMessageError, type MeshErrorOptions } from "./errors.js";
import type { HeaderList, WireRequest, WireResponse } from "./records.js";

/**
 * Wire codec: how one HTTP request or response is laid into one NATS message payload.
 *
 * ```
 * offset 0    2 bytes  magic 0x4E 0x4D ("NM")
 * offset 2    1 byte   protocol version (1)
 * offset 3    1 byte   message kind (1 = request, 2 = response)
 * offset 4    4 bytes  head length H, unsigned big-endian
 * offset 8    H bytes  head, UTF-8 text lines, each ending in "\n":
 *                        request first line:  METHOD " " PATH-WITH-QUERY
 *                        response first line: STATUS " " REASON      (REASON may be empty)
 *                        then one line per header: NAME ": " VALUE
 * offset 8+H           body bytes, to the end of the payload
 * ```
 * No NATS headers are used: measured in bench/wire, a text head in the payload costs about a third
 * of what NATS headers cost in nats.js, and a JSON head about 1.5× a text head (PROTOCOL.md).
 */

/** First two bytes of every natsmesh payload. */
export const MAGIC_0 = 0x4e;
export const MAGIC_1 = 0x4d;
/** Protocol version this codec writes and reads. */
export const VERSION = 1;
/** Message kinds (byte 3). */
export const Kind = { Request: 1, Response: 2 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];
/** Size of the fixed prefix before the head. */
export const PREFIX_SIZE = 8;
/** Largest head accepted, in bytes: a bound against absurd headers. */
export const MAX_HEAD_SIZE = 1 << 20;

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Control characters other than HTAB and the line separator: never valid in a head. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CTL_RE = /[\x00-\x08\x0b-\x1f\x7f]/;

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
 * Encodes a request into one NATS payload. The caller guarantees a valid request (token method and
 * names, no line breaks in path or values); {@link decodeRequest} checks all of it on the other side.
 *
 * @example
 * ```ts
 * const payload = encodeRequest({ method: "GET", path: "/", headers: [], body: new Uint8Array() });
 * ```
 */
export function encodeRequest(req: WireRequest): Uint8Array {
  return frame(Kind.Request, headLines(`${req.method} ${req.path}`, req.headers), req.body);
}

/** Encodes a response into one NATS payload. */
export function encodeResponse(res: WireResponse): Uint8Array {
  return frame(Kind.Response, headLines(`${res.status} ${res.statusText}`, res.headers), res.body);
}

type Fail = (message: string) => Error;

interface Parsed {
  /** First line, split at its first space. */
  a: string;
  b: string;
  headers: HeaderList;
  body: Uint8Array;
}

function parse(data: Uint8Array, kind: Kind, fail: Fail): Parsed {
  if (data.byteLength < PREFIX_SIZE) {
    throw fail(data.byteLength === 0 ? "empty payload" : `payload of ${data.byteLength} bytes is too short`);
  }
  if (data[0] !== MAGIC_0 || data[1] !== MAGIC_1) throw fail("not a natsmesh message (bad magic bytes)");
  if (data[2] !== VERSION) throw fail(`unsupported protocol version ${data[2]}`);
  if (data[3] !== kind) throw fail(`unexpected message kind ${data[3]} (expected ${kind})`);
  const headLen = ((data[4]! << 24) | (data[5]! << 16) | (data[6]! << 8) | data[7]!) >>> 0;
  if (headLen > MAX_HEAD_SIZE) throw fail(`head of ${headLen} bytes exceeds ${MAX_HEAD_SIZE}`);
  const end = PREFIX_SIZE + headLen;
  if (end > data.byteLength)
    throw fail(`head length ${headLen} runs past the end of a ${data.byteLength}-byte payload`);
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!isUtf8(view.subarray(PREFIX_SIZE, end))) throw fail("head is not valid UTF-8");
  const head = view.toString("utf8", PREFIX_SIZE, end);
  if (CTL_RE.test(head)) throw fail("control character in head");
  const nl = head.indexOf("\n");
  if (nl < 0 || head.charCodeAt(head.length - 1) !== 10) throw fail("head must be lines ending in '\\n'");
  const sp = head.indexOf(" ");
  if (sp < 0 || sp > nl) throw fail("first line must have two parts separated by a space");
  const headers: HeaderList = [];
  for (let p = nl + 1; p < head.length; ) {
    const eol = head.indexOf("\n", p);
    const colon = head.indexOf(":", p);
    if (colon < 0 || colon > eol || head.charCodeAt(colon + 1) !== 32) {
      throw fail(`header line ${JSON.stringify(head.slice(p, Math.min(eol, p + 40)))} must be 'name: value'`);
    }
    const name = head.slice(p, colon);
    if (!TOKEN_RE.test(name)) throw fail(`invalid header name ${JSON.stringify(name.slice(0, 40))}`);
    headers.push(name, head.slice(colon + 2, eol));
    p = eol + 1;
  }
  return { a: head.slice(0, sp), b: head.slice(sp + 1, nl), headers, body: data.subarray(end) };
}

/**
 * Decodes a request payload, checking every part: method token, path, header names and values, and
 * that every `content-length` line states the body's length.
 *
 * @throws {@link MalformedMessageError} when the payload does not follow the protocol.
 */
export function decodeRequest(data: Uint8Array, target: MeshErrorOptions = {}): WireRequest {
  const fail: Fail = (message) => new MalformedMessageError(message, target);
  const { a: method, b: path, headers, body } = parse(data, Kind.Request, fail);
  // The lower-cased method is the subject's last token: no '.', and never the wildcard '*'.
  if (!TOKEN_RE.test(method) || method.includes(".") || method === "*") {
    throw fail(`invalid method ${JSON.stringify(method.slice(0, 40))}`);
  }
  if (!(path.charCodeAt(0) === 47 || path === "*")) throw fail("path must start with '/'");
  if (path.includes(" ")) throw fail("path must not contain spaces");
  const length = String(body.byteLength);
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 14 && name.toLowerCase() === "content-length" && headers[i + 1] !== length) {
      throw fail(
        `content-length ${JSON.stringify(headers[i + 1]!.slice(0, 40))} does not match a body of ${length} bytes`,
      );
    }
  }
  return { method, path, headers, body };
}

/**
 * Decodes a response payload.
 *
 * @throws {@link BadResponseError} when the payload does not follow the protocol.
 */
export function decodeResponse(data: Uint8Array, target: MeshErrorOptions = {}): WireResponse {
  const fail: Fail = (message) => new BadResponseError(message, target);
  const { a: code, b: statusText, headers, body } = parse(data, Kind.Response, fail);
  const status = code.length === 3 ? Number(code) : Number.NaN;
  if (!Number.isInteger(status) || status < 100 || status > 599)
    throw fail("status must be a number 100-599");
  return { status, statusText, headers, body };
}
