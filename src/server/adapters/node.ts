import { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { type HeaderList, isHopByHop, type WireRequest, type WireResponse } from "../../protocol/index.js";
import { internalError } from "./errors.js";
import type { NodeListener, RequestContext, WireHandler } from "./types.js";

/** Node's internal, long-stable entry points used to build real request/response objects. */
interface IncomingInternals {
  _addHeaderLines(headers: string[], n: number): void;
}
interface OutgoingInternals {
  _header: string | null;
  getRawHeaderNames(): string[];
}

/**
 * A socket stand-in that captures what the `ServerResponse` writes. Node writes the serialised
 * status line and headers first (`res._header`); those bytes are skipped, since status and headers
 * are read from the response object itself; what follows is the body as written.
 */
function captureSocket(res: () => ServerResponse, chunks: Buffer[]): Duplex {
  let headerSkipped = false;
  const socket = new Duplex({
    decodeStrings: false,
    read() {},
    write(chunk: string | Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void) {
      if (!headerSkipped) {
        const header = (res() as unknown as OutgoingInternals)._header;
        if (header && typeof chunk === "string" && chunk.startsWith(header)) {
          chunk = chunk.slice(header.length);
          headerSkipped = true;
        }
      }
      if (chunk.length > 0) chunks.push(typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk);
      cb();
    },
  });
  Object.assign(socket, {
    remoteAddress: "127.0.0.1",
    remotePort: 0,
    remoteFamily: "IPv4",
    encrypted: false,
  });
  return socket;
}

function responseHeaders(res: ServerResponse): HeaderList {
  const list: HeaderList = [];
  for (const name of (res as unknown as OutgoingInternals).getRawHeaderNames()) {
    if (isHopByHop(name)) continue;
    const value = res.getHeader(name);
    if (Array.isArray(value)) for (const v of value) list.push(name, String(v));
    else if (value !== undefined) list.push(name, String(value));
  }
  return list;
}

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
  if (req.body.byteLength === 0 && BODYLESS.has(req.method)) return list;
  return [...list, "content-length", String(req.body.byteLength)];
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
  return (wreq: WireRequest, ctx: RequestContext): Promise<WireResponse> =>
    new Promise<WireResponse>((resolve) => {
      const chunks: Buffer[] = [];
      let res: ServerResponse | undefined;
      const socket = captureSocket(() => res!, chunks);
      const req = new IncomingMessage(socket as unknown as Socket);
      req.method = wreq.method;
      req.url = wreq.path;
      req.httpVersion = "1.1";
      req.httpVersionMajor = 1;
      req.httpVersionMinor = 1;
      const rawHeaders = withContentLength(wreq);
      (req as unknown as IncomingInternals)._addHeaderLines(rawHeaders, rawHeaders.length);
      if (wreq.body.byteLength > 0) req.push(wreq.body);
      req.push(null);
      req.complete = true;
      res = new ServerResponse(req);
      res.sendDate = false;
      res.useChunkedEncodingByDefault = false;
      res.shouldKeepAlive = false;
      res.assignSocket(socket as unknown as Socket);

      let done = false;
      const fail = (err: unknown) => {
        if (done) return;
        done = true;
        ctx.onError(err);
        socket.destroy();
        resolve(internalError());
      };
      res.once("finish", () => {
        if (done) return;
        done = true;
        const r = res!;
        resolve({
          status: r.statusCode,
          statusText: r.statusMessage ?? "",
          headers: responseHeaders(r),
          body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
        });
        socket.destroy();
      });
      // A handler that destroys the response instead of ending it (an HTTP server would reset the
      // connection) gets a 500 rather than leaving the caller to time out.
      socket.once("close", () => fail(new Error("the handler closed the response without ending it")));
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
