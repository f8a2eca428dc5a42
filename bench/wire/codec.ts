/**
 * Head encodings compared by the wire bench (see run.ts). Each encoder/decoder is what a real
 * natsmesh client or server would run per request; nothing is cached across calls except constants.
 */
import type { Msg, MsgHdrs } from "@nats-io/nats-core";

const TD = new TextDecoder();

export const BODY_SIZE = 100;
/** Constant 100-byte body used for requests and responses. */
export const BODY: Uint8Array = new Uint8Array(BODY_SIZE).fill(0x61);

export const PATH = "/city?q=london";
export const CONTENT_TYPE = "text/plain";
export const ACCEPT = "*/*";

/** A parsed HTTP-like head: flat header list [k0, v0, k1, v1, ...], names lower-case. */
export interface RequestHead {
  method: string;
  path: string;
  headers: string[];
}
export interface ResponseHead {
  status: number;
  reason: string;
  headers: string[];
}

export function headerValue(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (flat[i] === name) return flat[i + 1];
  }
  return undefined;
}

export function requestHeaders(requestId: string): string[] {
  return ["content-type", CONTENT_TYPE, "accept", ACCEPT, "x-request-id", requestId];
}
export function responseHeaders(requestId: string): string[] {
  return ["content-type", CONTENT_TYPE, "x-request-id", requestId];
}

// ---------------------------------------------------------------------------------------------
// Framing: [magic 'N' 'M' version flags]? + u32be headLength + head bytes + body bytes
// ---------------------------------------------------------------------------------------------

const MAGIC_N = 0x4e;
const MAGIC_M = 0x4d;
const VERSION = 1;
export const FLAG_JSON = 0;
export const FLAG_TEXT = 1;

/**
 * Frame `head` + `body` into one payload. `flags === null` omits the 4-byte magic prefix (D2).
 * Uses Buffer.allocUnsafe (slices Node's 8 KiB pool): a fresh `new Uint8Array(n)` or
 * TextEncoder.encode() costs a separate ArrayBuffer allocation (~300-450 ns each on this machine,
 * see micro.ts), which was the single biggest cost of framing.
 */
export function frame(head: string, body: Uint8Array, flags: number | null): Uint8Array {
  const pre = flags === null ? 4 : 8;
  const headLen = Buffer.byteLength(head, "utf8");
  const out = Buffer.allocUnsafe(pre + headLen + body.length);
  let o = 0;
  if (flags !== null) {
    out[0] = MAGIC_N;
    out[1] = MAGIC_M;
    out[2] = VERSION;
    out[3] = flags;
    o = 4;
  }
  out.writeUInt32BE(headLen, o);
  out.write(head, pre, "utf8");
  out.set(body, pre + headLen);
  return out;
}

export interface Unframed {
  head: string;
  body: Uint8Array;
}

/** Inverse of frame(). `flags === null` means no magic prefix is expected. */
export function unframe(data: Uint8Array, flags: number | null): Unframed {
  let o = 0;
  if (flags !== null) {
    if (data.length < 8 || data[0] !== MAGIC_N || data[1] !== MAGIC_M || data[2] !== VERSION) {
      throw new Error("bad magic");
    }
    if (data[3] !== flags) throw new Error("unexpected flags");
    o = 4;
  } else if (data.length < 4) {
    throw new Error("short frame");
  }
  const len = ((data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!) >>> 0;
  const start = o + 4;
  const end = start + len;
  if (end > data.length) throw new Error("head length out of range");
  return { head: TD.decode(data.subarray(start, end)), body: data.subarray(end) };
}

// ---------------------------------------------------------------------------------------------
// JSON head (D, D2)
// ---------------------------------------------------------------------------------------------

export function jsonRequestHead(h: RequestHead): string {
  return JSON.stringify([h.method, h.path, h.headers]);
}
export function jsonResponseHead(h: ResponseHead): string {
  return JSON.stringify([h.status, h.reason, h.headers]);
}

function isStringArray(v: unknown): v is string[] {
  if (!Array.isArray(v)) return false;
  for (const x of v) if (typeof x !== "string") return false;
  return true;
}

export function parseJsonRequestHead(s: string): RequestHead {
  const v: unknown = JSON.parse(s);
  if (!Array.isArray(v) || typeof v[0] !== "string" || typeof v[1] !== "string" || !isStringArray(v[2])) {
    throw new Error("bad request head");
  }
  return { method: v[0], path: v[1], headers: v[2] };
}
export function parseJsonResponseHead(s: string): ResponseHead {
  const v: unknown = JSON.parse(s);
  if (!Array.isArray(v) || typeof v[0] !== "number" || typeof v[1] !== "string" || !isStringArray(v[2])) {
    throw new Error("bad response head");
  }
  return { status: v[0], reason: v[1], headers: v[2] };
}

// ---------------------------------------------------------------------------------------------
// Text-line head (E): "GET /path\n" + "k: v\n"* + "\n"
// ---------------------------------------------------------------------------------------------

function textLines(first: string, flat: readonly string[]): string {
  let s = `${first}\n`;
  for (let i = 0; i + 1 < flat.length; i += 2) s += `${flat[i]}: ${flat[i + 1]}\n`;
  return `${s}\n`;
}
export function textRequestHead(h: RequestHead): string {
  return textLines(`${h.method} ${h.path}`, h.headers);
}
export function textResponseHead(h: ResponseHead): string {
  return textLines(`${h.status} ${h.reason}`, h.headers);
}

/** Parses "k: v\n" lines starting at `from` until an empty line. */
function parseTextFields(s: string, from: number): string[] {
  const out: string[] = [];
  let p = from;
  for (;;) {
    const nl = s.indexOf("\n", p);
    if (nl < 0) throw new Error("unterminated head");
    if (nl === p) return out;
    const colon = s.indexOf(": ", p);
    if (colon < 0 || colon > nl) throw new Error("bad header line");
    out.push(s.slice(p, colon), s.slice(colon + 2, nl));
    p = nl + 1;
  }
}

function splitFirstLine(s: string): [string, string, number] {
  const nl = s.indexOf("\n");
  const sp = s.indexOf(" ");
  if (nl < 0 || sp < 0 || sp > nl) throw new Error("bad first line");
  return [s.slice(0, sp), s.slice(sp + 1, nl), nl + 1];
}

export function parseTextRequestHead(s: string): RequestHead {
  const [method, path, next] = splitFirstLine(s);
  return { method, path, headers: parseTextFields(s, next) };
}
export function parseTextResponseHead(s: string): ResponseHead {
  const [code, reason, next] = splitFirstLine(s);
  const status = Number.parseInt(code, 10);
  if (Number.isNaN(status)) throw new Error("bad status");
  return { status, reason, headers: parseTextFields(s, next) };
}

// ---------------------------------------------------------------------------------------------
// C2/C3: cheaper NATS headers
// ---------------------------------------------------------------------------------------------

/**
 * A minimal MsgHdrs. nats.js's ProtocolHandler.publish() only ever calls `headers.encode()`
 * (protocol.js), a method that is NOT part of the public MsgHdrs type but is required at run time.
 * This one keeps the pairs as given (already canonical, trusted names) and encodes with one
 * template string + one TextEncoder call, instead of MsgHdrsImpl's canonicalMIMEHeaderKey + regex
 * validation per set() and a Map walk with string re-concatenation per encode().
 */
export class RawHdrs implements MsgHdrs {
  readonly code = 0;
  readonly description = "";
  readonly hasError = false;
  readonly status = "";
  /** Flat [Name, value, ...]; names in the exact case to put on the wire. */
  constructor(private readonly pairs: string[]) {
    for (let i = 1; i < pairs.length; i += 2) {
      const v = pairs[i]!;
      if (v.includes("\r") || v.includes("\n")) throw new Error("header values cannot contain CR/LF");
    }
  }
  encode(): Uint8Array {
    const p = this.pairs;
    let s = "NATS/1.0\r\n";
    for (let i = 0; i + 1 < p.length; i += 2) s += `${p[i]}: ${p[i + 1]}\r\n`;
    return Buffer.from(`${s}\r\n`, "utf8"); // pooled; TextEncoder.encode() allocates an ArrayBuffer
  }
  *[Symbol.iterator](): Iterator<[string, string[]]> {
    for (let i = 0; i + 1 < this.pairs.length; i += 2) yield [this.pairs[i]!, [this.pairs[i + 1]!]];
  }
  get(k: string): string {
    return headerValue(this.pairs, k) ?? "";
  }
  last(k: string): string {
    return this.values(k).at(-1) ?? "";
  }
  has(k: string): boolean {
    return headerValue(this.pairs, k) !== undefined;
  }
  keys(): string[] {
    return this.pairs.filter((_, i) => i % 2 === 0);
  }
  values(k: string): string[] {
    return this.pairs.filter((_v, i) => i % 2 === 1 && this.pairs[i - 1] === k);
  }
  set(k: string, v: string): void {
    this.delete(k);
    this.append(k, v);
  }
  append(k: string, v: string): void {
    this.pairs.push(k, v);
  }
  delete(k: string): void {
    for (let i = this.pairs.length - 2; i >= 0; i -= 2) if (this.pairs[i] === k) this.pairs.splice(i, 2);
  }
}

/** Shape of nats.js MsgImpl's private fields (msg.js): `_rdata` = header+payload, `_msg.hdr` = header length. */
interface MsgImplInternals {
  _rdata: Uint8Array;
  _msg: { hdr: number };
}
function hasInternals(m: Msg): m is Msg & MsgImplInternals {
  const x = m as Partial<MsgImplInternals>;
  return x._rdata instanceof Uint8Array && typeof x._msg?.hdr === "number";
}

/**
 * C3: read the raw NATS header block without MsgImpl.headers (MsgHdrsImpl.decode). Relies on
 * private fields of MsgImpl; returns the header pairs as on the wire (original case).
 */
export function rawHeaderPairs(m: Msg): string[] {
  if (!hasInternals(m)) throw new Error("unexpected Msg implementation");
  const n = m._msg.hdr;
  return n <= 0 ? [] : parseHeaderBlock(m._rdata.subarray(0, n));
}

/** Parses a `NATS/1.0[ code desc]\r\nK: v\r\n...\r\n\r\n` block into flat pairs. */
export function parseHeaderBlock(block: Uint8Array): string[] {
  const s = TD.decode(block);
  const first = s.indexOf("\r\n");
  if (first < 0 || !s.startsWith("NATS/1.0")) throw new Error("bad header block");
  const out: string[] = [];
  let p = first + 2;
  for (;;) {
    const nl = s.indexOf("\r\n", p);
    if (nl < 0 || nl === p) return out;
    const colon = s.indexOf(":", p);
    if (colon < 0 || colon > nl) throw new Error("bad header line");
    out.push(s.slice(p, colon), s.slice(colon + 1, nl).trim());
    p = nl + 2;
  }
}
