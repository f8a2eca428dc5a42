/**
 * The Node `(req, res)` adapter: real `http.IncomingMessage` and `http.ServerResponse` objects driven
 * from a wire request, their answer read back as a wire response.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { type HeaderList, isHopByHop, type WireRequest, type WireResponse } from "../../protocol/index.js";
import type { RequestControl } from "../exchange.js";
import { BodySink, type SinkOwner, type WriteCallback } from "./body-sink.js";
import { type CaptureSocket, SocketPool, type SocketUser } from "./capture-socket.js";
import { internalError } from "./errors.js";
import type { NodeListener, RequestContext, WireHandler } from "./types.js";

/** Node's internal, long-stable entry points used to build real request/response objects. */
interface IncomingInternals {
  _addHeaderLines(headers: string[], n: number): void;
  _dump(): void;
}
interface ReadableInternals {
  _read(): void;
  _consuming: boolean;
  _readableState: { readingMore: boolean; resumeScheduled: boolean };
}
interface OutgoingInternals {
  _header: string | null;
  _headerSent: boolean;
  _closed: boolean;
  outputData: unknown[];
  outputSize: number;
  getRawHeaderNames(): string[];
}

/** Node's `kNeedDrain` symbol (behind `writableNeedDrain`), found on the first response that needs it. */
let kNeedDrain: symbol | undefined;

const NODE_CALL = Symbol("natsmesh.node-call");
type CapturedResponse = ServerResponse & { [NODE_CALL]: NodeCall };

/**
 * node:http's write path (`OutgoingMessage.prototype._writeRaw`, where every serialised chunk goes
 * to the socket), set on each response: its bytes go to the call's {@link BodySink} instead. The
 * head comes first; status and headers are read from the response object, so those bytes are
 * skipped, and the body follows as written. Informational answers (`100 Continue`, early hints)
 * have no place on the wire and are dropped. Set on the response itself, not on a subclass, because
 * express and friends swap the response's prototype for their own.
 */
function writeRaw(
  this: CapturedResponse,
  data: string | Uint8Array,
  encoding?: BufferEncoding | null | WriteCallback,
  callback?: WriteCallback,
): boolean {
  if (typeof encoding === "function") {
    callback = encoding;
    encoding = null;
  }
  if (this.destroyed) return false;
  const self = this as unknown as OutgoingInternals;
  const x = this[NODE_CALL];
  if (!self._headerSent) {
    if (callback) x.defer(callback);
    return true;
  }
  if (!x.headSkipped) {
    x.headSkipped = true;
    // `_send` put the head before a string chunk, or queued it ahead of a bytes chunk.
    if (self.outputData.length > 0) {
      self.outputData.length = 0;
      self.outputSize = 0;
    } else if (typeof data === "string") {
      data = data.slice(self._header!.length);
    }
  }
  if (data.length === 0) {
    if (callback) x.defer(callback);
    return true;
  }
  const bytes = typeof data === "string" ? Buffer.from(data, encoding ?? "utf8") : (data as Buffer);
  return x.sink.write(bytes, callback, x.ending);
}

/** `res.end()`, set on each response: notes that what it writes is the last chunk. */
function end(this: CapturedResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): CapturedResponse {
  this[NODE_CALL].ending = true;
  const protoEnd = (Object.getPrototypeOf(this) as ServerResponse).end as (
    a?: unknown,
    b?: unknown,
    c?: unknown,
  ) => CapturedResponse;
  // No rest parameter: end(chunk, encoding, cb) treats a missing argument as undefined.
  return protoEnd.call(this, chunk, encoding, cb);
}

/**
 * node:http's `_storeHeader`, set on each response: after it builds the head, a body the handler
 * declared chunked (`Transfer-Encoding: chunked` set by hand) is taken as written, without chunk
 * framing — the wire carries the body's bytes, and `transfer-encoding` is hop-by-hop.
 */
function storeHeader(this: CapturedResponse, ...args: unknown[]): void {
  const proto = Object.getPrototypeOf(this) as { _storeHeader: (...a: unknown[]) => void };
  proto._storeHeader.apply(this, args);
  this.chunkedEncoding = false;
}

/** The response's 'finish' listener. */
function onFinish(this: CapturedResponse): void {
  this[NODE_CALL].finished();
}

/** As node:http's emitCloseNT: a finished response is closed once. */
function emitClose(res: ServerResponse): void {
  const r = res as unknown as OutgoingInternals;
  if (r._closed) return;
  res.destroyed = true;
  r._closed = true;
  res.emit("close");
}

/** Runs a response's deferred write callbacks, in the order they were written. */
function runDeferred(x: NodeCall): void {
  const callbacks = x.deferred;
  x.deferred = [];
  for (const cb of callbacks) cb();
}

/**
 * One request through the adapter: its request and response objects, the socket lent to them, the
 * body sink, and the settling of the answer. One object per request instead of a closure per event.
 */
class NodeCall implements SinkOwner, SocketUser {
  readonly sink: BodySink;
  readonly req: IncomingMessage;
  readonly res: CapturedResponse;
  headSkipped = false;
  ending = false;
  /** Write callbacks waiting for the next tick; one tick runs them all. */
  deferred: WriteCallback[] = [];
  #done = false;
  #callerLeft = false;
  readonly #socket: CaptureSocket;
  readonly #pool: SocketPool;
  readonly #ctx: RequestContext;
  readonly #resolve: (res: WireResponse) => void;

  constructor(
    wreq: WireRequest,
    ctx: RequestContext,
    pool: SocketPool,
    resolve: (res: WireResponse) => void,
  ) {
    this.#ctx = ctx;
    this.#pool = pool;
    this.#resolve = resolve;
    this.sink = new BodySink(this);
    const socket = pool.take();
    this.#socket = socket;
    const req = new IncomingMessage(socket as unknown as Socket);
    req.method = wreq.method;
    req.url = wreq.path;
    req.httpVersion = "1.1";
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    const rawHeaders = rawHeadersOf(wreq, ctx.service);
    (req as unknown as IncomingInternals)._addHeaderLines(rawHeaders, rawHeaders.length);
    if (wreq.stream !== undefined) {
      pipeBody(req, wreq.stream);
    } else {
      if (wreq.body.byteLength > 0) req.push(wreq.body);
      req.push(null);
      req.complete = true;
    }
    this.req = req;
    const res = new ServerResponse(req) as CapturedResponse;
    res[NODE_CALL] = this;
    const internals = res as unknown as { _writeRaw: typeof writeRaw; _storeHeader: typeof storeHeader };
    internals._writeRaw = writeRaw;
    internals._storeHeader = storeHeader;
    res.end = end as CapturedResponse["end"];
    res.sendDate = false;
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
    res.assignSocket(socket as unknown as Socket);
    res.on("finish", onFinish);
    socket.user = this;
    this.res = res;
  }

  defer(cb: WriteCallback): void {
    if (this.deferred.push(cb) === 1) process.nextTick(runDeferred, this);
  }

  streamed(): void {
    // The body outlives this turn or outgrows memory: answer now, the rest streams.
    this.#done = true;
    this.#resolve({ ...this.#head(), stream: this.sink.stream });
  }

  drained(): void {
    const res = this.res;
    if (res.writableEnded) return;
    kNeedDrain ??= Object.getOwnPropertySymbols(res).find((s) => s.description === "kNeedDrain");
    const flags = res as unknown as Record<symbol, boolean>;
    if (kNeedDrain !== undefined) {
      if (!flags[kNeedDrain]) return;
      flags[kNeedDrain] = false;
    }
    res.emit("drain");
  }

  /**
   * A handler that destroys the response (or the socket) instead of ending it — an HTTP server would
   * reset the connection — gets a 500 rather than leaving the caller to time out.
   */
  socketClosed(): void {
    if (!this.#done || !this.res.writableFinished)
      this.fail(new Error("the handler closed the response without ending it"));
  }

  /** The handler threw or rejected; mid-stream, the caller gets an abort, not a truncated body taken as whole. */
  fail(err: unknown): void {
    if (this.#done) {
      if (!this.res.writableFinished) this.sink.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.#done = true;
    if (!this.#callerLeft) this.#ctx.onError(err);
    this.#socket.destroy();
    this.#resolve(internalError());
  }

  /**
   * The caller left (abort, silence, timeout): as node:http does when an HTTP client hangs up
   * (abortIncoming), `req` is destroyed with an ECONNRESET "aborted" error — it emits 'aborted' when
   * its body was not read to the end, then 'close' ('error' only to a listener) — and `res` emits 'close'.
   */
  callerLeft(): void {
    this.#callerLeft = true;
    const req = this.req;
    if (!req.destroyed) req.destroy(Object.assign(new Error("aborted"), { code: "ECONNRESET" }));
    if (this.#socket.user === this && !this.res.writableFinished) this.#socket.destroy();
  }

  finished(): void {
    const sink = this.sink;
    sink.end();
    if (!this.#done) {
      this.#done = true;
      const chunks = sink.chunks;
      this.#resolve({
        ...this.#head(),
        body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, sink.size),
      });
    }
    // What node:http does after a response (resOnFinish): a body the handler never read is dumped,
    // so req ends and emits 'close' (apps clean up on it); the socket is let go and serves a later
    // request; res emits 'close' in the next tick.
    const req = this.req as unknown as ReadableInternals & IncomingInternals;
    // A body read to its end has nothing left to dump.
    if (!req._consuming && !req._readableState.resumeScheduled && !this.req.readableEnded) req._dump();
    if (this.#socket.user === this) {
      this.res.detachSocket(this.#socket as unknown as Socket);
      this.#pool.give(this.#socket);
    }
    process.nextTick(emitClose, this.res);
  }

  #head(): WireResponse {
    const res = this.res;
    return {
      status: res.statusCode,
      statusText: res.statusMessage ?? "",
      headers: responseHeaders(res),
      body: EMPTY,
    };
  }
}

/** A response's headers as node:http keeps them (`kOutHeaders`): lower-cased name → [name as set, value]. */
type OutHeaders = Record<string, [string, number | string | readonly string[]]>;

/**
 * node:http's `kOutHeaders` symbol, found on the first response (null when this Node has none):
 * reading the map it keys saves `getRawHeaderNames()`'s array and a `getHeader()` per name.
 */
let kOutHeaders: symbol | null | undefined;

function responseHeaders(res: ServerResponse): HeaderList {
  const internals = res as unknown as OutgoingInternals;
  kOutHeaders ??= Object.getOwnPropertySymbols(res).find((s) => s.description === "kOutHeaders") ?? null;
  if (kOutHeaders === null) return headersByName(res, internals);
  const map = (res as unknown as Record<symbol, OutHeaders | null>)[kOutHeaders];
  const list: HeaderList = [];
  if (map != null) {
    for (const key in map) {
      const [name, value] = map[key]!;
      if (isHopByHop(name)) continue;
      if (Array.isArray(value)) for (const v of value) list.push(name, String(v));
      else list.push(name, String(value));
    }
  }
  // `writeHead(status, headers)` with nothing set before keeps those headers only in the serialised
  // head (Node's fast path): read them from there.
  if (list.length === 0 && (map == null || isEmpty(map)) && internals._header)
    return headersOf(internals._header);
  return list;
}

function isEmpty(map: OutHeaders): boolean {
  for (const _ in map) return false;
  return true;
}

/** {@link responseHeaders} through the public API, on a Node without `kOutHeaders`. */
function headersByName(res: ServerResponse, internals: OutgoingInternals): HeaderList {
  const list: HeaderList = [];
  const names = internals.getRawHeaderNames();
  if (names.length === 0 && internals._header) return headersOf(internals._header);
  for (const name of names) {
    if (isHopByHop(name)) continue;
    const value = res.getHeader(name);
    if (Array.isArray(value)) for (const v of value) list.push(name, String(v));
    else if (value !== undefined) list.push(name, String(value));
  }
  return list;
}

/** The header fields of a serialised HTTP/1.1 response head, hop-by-hop ones left out. */
function headersOf(head: string): HeaderList {
  const list: HeaderList = [];
  let at = head.indexOf("\r\n") + 2;
  while (at > 1 && at < head.length) {
    const eol = head.indexOf("\r\n", at);
    const end = eol < 0 ? head.length : eol;
    const colon = head.indexOf(":", at);
    if (colon > at && colon < end) {
      const name = head.slice(at, colon);
      if (!isHopByHop(name)) list.push(name, head.slice(colon + 1, end).trim());
    }
    at = end + 2;
  }
  return list;
}

const EMPTY = new Uint8Array(0);
const BODYLESS = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE"]);

/**
 * The raw header lines an HTTP server would have seen. The body's length travels with the message,
 * not in a header, but body parsers (express.json, fastify) rely on a `content-length`, so one is
 * added when the sender gave none. A request without `Host` (natsmesh's client sends none, the
 * gateway forwards the public one) gets the service name, as the URL's host the caller named it by:
 * express's `req.hostname` and fastify's `request.hostname` read it. The lines are appended to the
 * wire request's own list, which belongs to this request: no copy.
 */
function rawHeadersOf(req: WireRequest, service: string): string[] {
  const list = req.headers;
  let length = false;
  let host = false;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    if (name.length === 14) length ||= name.toLowerCase() === "content-length";
    else if (name.length === 4) host ||= name.toLowerCase() === "host";
  }
  if (!host) list.push("host", service);
  if (length) return list;
  // A streamed body of unknown length is what HTTP/1.1 sends chunked: body parsers look for one of
  // the two headers to know a body is there.
  if (req.stream !== undefined) list.push("transfer-encoding", "chunked");
  else if (req.body.byteLength > 0 || !BODYLESS.has(req.method))
    list.push("content-length", String(req.body.byteLength));
  return list;
}

/** Feeds a streamed request body into `req` as the handler reads it. */
function pipeBody(req: IncomingMessage, body: ReadableStream<Uint8Array>): void {
  const reader = body.getReader();
  let reading = false;
  const internals = req as unknown as ReadableInternals;
  internals._read = () => {
    // As IncomingMessage's own _read does: it starts with `readingMore` set (until the head is
    // parsed), which would stop Readable from asking for the next chunk.
    internals._readableState.readingMore = false;
    internals._consuming = true;
    if (reading) return;
    reading = true;
    reader.read().then(
      ({ done, value }) => {
        reading = false;
        if (done) {
          req.complete = true;
          req.push(null);
        } else {
          req.push(value);
        }
      },
      (err: unknown) => req.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  };
  req.once("close", () => {
    if (!req.complete) reader.cancel().catch(() => undefined);
  });
}

/**
 * Adapts a Node `(req, res)` listener (node:http, express, fastify's `routing`) to the wire. The
 * handler gets real `http.IncomingMessage` and `http.ServerResponse` objects, so apps work unchanged
 * and the same app can keep serving a real HTTP port; no socket is written to, and the sockets behind
 * them are reused as an HTTP keep-alive connection is. `req.headers` follows Node's rules for
 * repeated headers; `req.rawHeaders` keeps the wire's names and order, a `host` (the service name)
 * and a `content-length` added when the request has none (see {@link rawHeadersOf}). A throw or
 * rejection before the response ends yields a safe 500.
 *
 * @example
 * ```ts
 * const wire = nodeAdapter((req, res) => res.end("hi"));
 * ```
 */
export function nodeAdapter(listener: NodeListener): WireHandler {
  const pool = new SocketPool();
  return (wreq: WireRequest, ctx: RequestContext, control?: RequestControl): Promise<WireResponse> =>
    new Promise<WireResponse>((resolve) => {
      const x = new NodeCall(wreq, ctx, pool, resolve);
      control?.onAbort(() => x.callerLeft());
      try {
        const result = listener(x.req, x.res);
        if (result && typeof (result as Promise<unknown>).then === "function") {
          (result as Promise<unknown>).then(undefined, (err: unknown) => x.fail(err));
        }
      } catch (err) {
        x.fail(err);
      }
    });
}
