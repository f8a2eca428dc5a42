import { BadResponseError, MalformedMessageError, type MeshErrorOptions } from "./errors.js";
import type { HeaderList, WireRequest, WireResponse } from "./records.js";

/**
 * Wire codec: how one HTTP request or response is laid into one NATS message payload.
 *
 * ```
 * offset 0  2 bytes  magic 0x4E 0x4D ("NM")
 * offset 2  1 byte   protocol version (1)
 * offset 3  1 byte   message kind (1 = request, 2 = response)
 * offset 4  4 bytes  head length H, unsigned big-endian
 * offset 8  H bytes  head: UTF-8 JSON array
 *                      request:  [method, pathWithQuery, [name, value, ...]]
 *                      response: [status, statusText, [name, value, ...]]
 * offset 8+H         body bytes, to the end of the payload
 * ```
 * No NATS headers are needed: measured in bench/wire, a head in the payload costs far less in nats.js
 * than NATS headers (see PROTOCOL.md and BENCHMARKS.md).
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
const VALUE_RE = /^[^\0\r\n]*$/;

function frame(kind: Kind, head: string, body: Uint8Array): Uint8Array {
  const max = PREFIX_SIZE + head.length * 3 + body.byteLength;
  const out = Buffer.allocUnsafe(max);
  const headLen = out.write(head, PREFIX_SIZE, "utf8");
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = VERSION;
  out[3] = kind;
  out.writeUInt32BE(headLen, 4);
  if (body.byteLength > 0) out.set(body, PREFIX_SIZE + headLen);
  return out.subarray(0, PREFIX_SIZE + headLen + body.byteLength);
}

/** Size in bytes of the payload {@link encodeRequest} would produce, without building it. */
export function encodedSize(head: string, body: Uint8Array): number {
  return PREFIX_SIZE + Buffer.byteLength(head, "utf8") + body.byteLength;
}

/**
 * Encodes a request into one NATS payload.
 *
 * @example
 * ```ts
 * const payload = encodeRequest({ method: "GET", path: "/", headers: [], body: new Uint8Array() });
 * ```
 */
export function encodeRequest(req: WireRequest): Uint8Array {
  return frame(Kind.Request, JSON.stringify([req.method, req.path, req.headers]), req.body);
}

/** Encodes a response into one NATS payload. */
export function encodeResponse(res: WireResponse): Uint8Array {
  return frame(Kind.Response, JSON.stringify([res.status, res.statusText, res.headers]), res.body);
}

type Fail = (message: string) => Error;

function unframe(data: Uint8Array, kind: Kind, fail: Fail): { head: unknown; body: Uint8Array } {
  if (data.byteLength < PREFIX_SIZE) {
    throw fail(data.byteLength === 0 ? "empty payload" : `payload of ${data.byteLength} bytes is too short`);
  }
  if (data[0] !== MAGIC_0 || data[1] !== MAGIC_1) throw fail("not a natsmesh message (bad magic bytes)");
  if (data[2] !== VERSION) throw fail(`unsupported protocol version ${data[2]}`);
  if (data[3] !== kind) throw fail(`unexpected message kind ${data[3]} (expected ${kind})`);
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const headLen = view.readUInt32BE(4);
  if (headLen > MAX_HEAD_SIZE) throw fail(`head of ${headLen} bytes exceeds ${MAX_HEAD_SIZE}`);
  if (PREFIX_SIZE + headLen > data.byteLength) {
    throw fail(`head length ${headLen} runs past the end of a ${data.byteLength}-byte payload`);
  }
  let head: unknown;
  try {
    head = JSON.parse(view.toString("utf8", PREFIX_SIZE, PREFIX_SIZE + headLen));
  } catch {
    throw fail("head is not valid JSON");
  }
  return { head, body: data.subarray(PREFIX_SIZE + headLen) };
}

function checkHeaders(value: unknown, fail: Fail): HeaderList {
  if (!Array.isArray(value) || value.length % 2 !== 0) throw fail("headers must be an even-length array");
  for (let i = 0; i < value.length; i += 2) {
    const name = value[i];
    const val = value[i + 1];
    if (typeof name !== "string" || !TOKEN_RE.test(name))
      throw fail(`invalid header name ${JSON.stringify(name)}`);
    if (typeof val !== "string" || !VALUE_RE.test(val)) {
      throw fail(`invalid value for header '${name}'`);
    }
  }
  return value as HeaderList;
}

/**
 * Decodes a request payload.
 *
 * @throws {@link MalformedMessageError} when the payload does not follow the protocol.
 */
export function decodeRequest(data: Uint8Array, target: MeshErrorOptions = {}): WireRequest {
  const fail: Fail = (message) => new MalformedMessageError(message, target);
  const { head, body } = unframe(data, Kind.Request, fail);
  if (!Array.isArray(head) || head.length < 3) throw fail("request head must be [method, path, headers]");
  const [method, path, headers] = head as unknown[];
  if (typeof method !== "string" || !TOKEN_RE.test(method)) throw fail("invalid method");
  if (typeof path !== "string" || !(path.startsWith("/") || path === "*") || !VALUE_RE.test(path)) {
    throw fail("path must start with '/'");
  }
  if (/[\s]/.test(path)) throw fail("path must not contain whitespace");
  return { method, path, headers: checkHeaders(headers, fail), body };
}

/**
 * Decodes a response payload.
 *
 * @throws {@link BadResponseError} when the payload does not follow the protocol.
 */
export function decodeResponse(data: Uint8Array, target: MeshErrorOptions = {}): WireResponse {
  const fail: Fail = (message) => new BadResponseError(message, target);
  const { head, body } = unframe(data, Kind.Response, fail);
  if (!Array.isArray(head) || head.length < 3)
    throw fail("response head must be [status, statusText, headers]");
  const [status, statusText, headers] = head as unknown[];
  if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) {
    throw fail("status must be an integer 100-599");
  }
  if (typeof statusText !== "string" || !VALUE_RE.test(statusText)) throw fail("invalid status text");
  return { status, statusText, headers: checkHeaders(headers, fail), body };
}
