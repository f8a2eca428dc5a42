import { Buffer } from "node:buffer";
import { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { type HeaderList, isHopByHop, type WireRequest, type WireResponse } from "../../protocol/index.js";
import type { RequestControl } from "../exchange.js";
import { internalError } from "./errors.js";
import type { NodeListener, RequestContext, WireHandler } from "./types.js";

/** Node's internal, long-stable entry points used to build real request/response objects. */
interface IncomingInternals {
  _addHeaderLines(headers: string[], n: number): void;
}
interface ReadableInternals {
  _read(): void;
  _consuming: boolean;
  _readableState: { readingMore: boolean };
}
interface OutgoingInternals {
  _header: string | null;
  getRawHeaderNames(): string[];
}

/** Body bytes a handler may write before its answer turns into a streamed one. */
const STREAM_AFTER = 64 * 1024;

/**
 * Where the body a handler writes goes: into memory until the handler ends the response (one
 * message), or — once it has written more than {@link STREAM_AFTER} bytes, or wrote and did not end
 * within the same turn of the event loop — into a stream the server sends chunk by chunk. A write is
 * acknowledged when the stream's reader takes it, so a slow caller slows the handler's writes.
 */
class BodySink {
  readonly chunks: Buffer[] = [];
  size = 0;
  /** Set when the body became a stream. */
  stream: ReadableStream<Uint8Array> | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #held: (() => void) | undefined;
  #check: NodeJS.Immediate | undefined;
  #onStream: () => void;

  /** @param onStream - called once, when the body turns into a stream. */
  constructor(onStream: () => void) {
    this.#onStream = onStream;
  }

  write(chunk: Buffer, cb: (err?: Error | null) => void): void {
    const controller = this.#controller;
    if (controller !== undefined) {
      controller.enqueue(chunk);
      if ((controller.desiredSize ?? 0) > 0) cb();
      else this.#held = () => cb();
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
    cb();
    if (this.size > STREAM_AFTER) this.#toStream();
    else this.#check ??= setImmediate(() => this.#toStream());
  }

  /** The response ended: the in-memory body is complete, or the stream closes. */
  end(): void {
    if (this.#check) clearImmediate(this.#check);
    this.#check = undefined;
    this.#controller?.close();
  }

  /** The response broke off: a stream errors (the caller gets an abort). */
  fail(err: Error): void {
    if (this.#check) clearImmediate(this.#check);
    this.#check = undefined;
    this.#controller?.error(err);
  }

  #toStream(): void {
    if (this.#check) clearImmediate(this.#check);
    this.#check = undefined;
    if (this.stream !== undefined) return;
    const chunks = this.chunks.splice(0);
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
          for (const c of chunks) controller.enqueue(c);
        },
        pull: () => {
          const held = this.#held;
          this.#held = undefined;
          held?.();
        },
        cancel: () => {
          this.#controller = undefined;
          const held = this.#held;
          this.#held = undefined;
          held?.();
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: STREAM_AFTER }),
    );
    this.#onStream();
  }
}

/**
 * A socket stand-in that captures what the `ServerResponse` writes. Node writes the serialised
 * status line and headers first (`res._header`); those bytes are skipped, since status and headers
 * are read from the response object itself; what follows is the body as written. A class, so that
 * the write path and the address fields live on its prototype rather than on every request's socket.
 */
class CaptureSocket extends Duplex {
  res: ServerResponse | undefined;
  readonly #sink: BodySink;
  #headerSkipped = false;

  constructor(sink: BodySink) {
    super({ decodeStrings: false });
    this.#sink = sink;
    // What node:http's server does for its sockets: a response whose write() returned false hears
    // 'drain' when the socket's buffer empties.
    this.on("drain", () => {
      const r = this.res;
      if (r?.writableNeedDrain) r.emit("drain");
    });
  }

  override _read(): void {}

  override _write(chunk: string | Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.#headerSkipped) {
      const header = (this.res as unknown as OutgoingInternals | undefined)?._header;
      if (header && typeof chunk === "string" && chunk.startsWith(header)) {
        chunk = chunk.slice(header.length);
        this.#headerSkipped = true;
      }
    }
    if (chunk.length > 0)
      this.#sink.write(typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk, cb);
    else cb();
  }
}
for (const [name, value] of Object.entries({
  remoteAddress: "127.0.0.1",
  remotePort: 0,
  remoteFamily: "IPv4",
  encrypted: false,
})) {
  Object.defineProperty(CaptureSocket.prototype, name, { value, writable: true, configurable: true });
}

function responseHeaders(res: ServerResponse): HeaderList {
  const list: HeaderList = [];
  const internals = res as unknown as OutgoingInternals;
  const names = internals.getRawHeaderNames();
  // `writeHead(status, headers)` with nothing set before keeps those headers only in the serialised
  // head (Node's fast path): read them from there.
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
  const lines = head.split("\r\n");
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    if (!isHopByHop(name)) list.push(name, line.slice(colon + 1).trim());
  }
  return list;
}

const EMPTY = new Uint8Array(0);
const BODYLESS = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE"]);

/**
 * The body's length travels with the message, not in a header; an HTTP server would see a
 * `content-length` for every body, and body parsers (express.json, fastify) rely on it. So one is
 * added when the sender gave none.
 */
function withContentLength(req: WireRequest): string[] {
  const list = req.headers;
  for (let i = 0; i < list.length; i += 2) {
    if (list[i]!.length === 14 && list[i]!.toLowerCase() === "content-length") return list;
  }
  // A streamed body of unknown length is what HTTP/1.1 sends chunked: body parsers look for one of
  // the two headers to know a body is there.
  if (req.stream !== undefined) return [...list, "transfer-encoding", "chunked"];
  if (req.body.byteLength === 0 && BODYLESS.has(req.method)) return list;
  return [...list, "content-length", String(req.body.byteLength)];
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
 * handler gets real `http.IncomingMessage` and `http.ServerResponse` objects, with no socket behind
 * them, so apps work unchanged and the same app can keep serving a real HTTP port. `req.headers`
 * follows Node's rules for repeated headers; `req.rawHeaders` keeps the wire's names and order.
 * A throw or rejection before the response ends yields a safe 500.
 *
 * @example
 * ```ts
 * const wire = nodeAdapter((req, res) => res.end("hi"));
 * ```
 */
export function nodeAdapter(listener: NodeListener): WireHandler {
  return (wreq: WireRequest, ctx: RequestContext, control?: RequestControl): Promise<WireResponse> =>
    new Promise<WireResponse>((resolve) => {
      let res: ServerResponse | undefined;
      let done = false;
      const head = (): WireResponse => {
        const r = res!;
        return {
          status: r.statusCode,
          statusText: r.statusMessage ?? "",
          headers: responseHeaders(r),
          body: EMPTY,
        };
      };
      const sink = new BodySink(() => {
        // The body outlives this turn or outgrows memory: answer now, the rest streams.
        done = true;
        resolve({ ...head(), stream: sink.stream });
      });
      const socket = new CaptureSocket(sink);
      const req = new IncomingMessage(socket as unknown as Socket);
      req.method = wreq.method;
      req.url = wreq.path;
      req.httpVersion = "1.1";
      req.httpVersionMajor = 1;
      req.httpVersionMinor = 1;
      const rawHeaders = withContentLength(wreq);
      (req as unknown as IncomingInternals)._addHeaderLines(rawHeaders, rawHeaders.length);
      if (wreq.stream !== undefined) {
        pipeBody(req, wreq.stream);
      } else {
        if (wreq.body.byteLength > 0) req.push(wreq.body);
        req.push(null);
        req.complete = true;
      }
      res = new ServerResponse(req);
      res.sendDate = false;
      res.useChunkedEncodingByDefault = false;
      res.shouldKeepAlive = false;
      socket.res = res;
      res.assignSocket(socket as unknown as Socket);

      let callerLeft = false;
      const fail = (err: unknown) => {
        if (done) {
          // Mid-stream: the caller gets an abort, not a truncated body taken as whole.
          if (!res!.writableFinished) sink.fail(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        done = true;
        if (!callerLeft) ctx.onError(err);
        socket.destroy();
        resolve(internalError());
      };
      res.once("finish", () => {
        sink.end();
        if (!done) {
          done = true;
          const chunks = sink.chunks;
          resolve({ ...head(), body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, sink.size) });
        }
        // req and res hear 'close', as after an HTTP response. Not from inside this callback: 'finish'
        // runs within the socket's write callback, and a socket destroyed there builds an
        // ERR_STREAM_DESTROYED error (with its stack) for the write being completed: 9 µs of the
        // adapter's 38 per request in a profile.
        process.nextTick(() => socket.destroy());
        // As node:http does after a response: a body the handler never read is dumped, so req ends
        // and emits 'close' too (apps clean up on it).
        if (!(req as unknown as ReadableInternals)._consuming) req.resume();
      });
      // A handler that destroys the response instead of ending it (an HTTP server would reset the
      // connection) gets a 500 rather than leaving the caller to time out.
      // The socket closes after every answer too: the error (and its stack) only when it is one.
      socket.once("close", () => {
        if (!done || !res!.writableFinished)
          fail(new Error("the handler closed the response without ending it"));
      });
      // The caller left (abort, silence): as when an HTTP client hangs up, req and res emit 'close'.
      control?.onAbort(() => {
        callerLeft = true;
        if (!res!.writableFinished) socket.destroy();
      });
      try {
        const result = listener(req, res);
        if (result && typeof (result as Promise<unknown>).then === "function") {
          (result as Promise<unknown>).then(undefined, fail);
        }
      } catch (err) {
        fail(err);
      }
    });
}
