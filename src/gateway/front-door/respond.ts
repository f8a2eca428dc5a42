/**
 * Writes answers to the public client, over HTTP/1.1 or HTTP/2 (the compatibility API), from a
 * service's response, a failure, or a policy's decision.
 *
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { type HeaderList, HOP_BY_HOP, MeshHeader, type WireResponse } from "../../protocol/index.js";
import type { HeaderPairs, Respond } from "../policies/types.js";
import type { PublicError } from "./public-error.js";

/** A public request: HTTP/1.1 (`node:http`, or HTTP/1.1 over TLS) or HTTP/2 (compatibility API). */
export type PublicRequest = IncomingMessage | Http2ServerRequest;
/** A public response, HTTP/1.1 or HTTP/2. */
export type PublicResponse = ServerResponse | Http2ServerResponse;

/** How an answer is written: the request id to return and the headers the policies added. */
export interface AnswerContext {
  /** Goes into `x-request-id`. */
  requestId: string;
  /** Response headers of the policies that let the request continue (CORS, rate limit). */
  extraHeaders: HeaderPairs;
  /** Asks an HTTP/1.1 client to close the connection (`Connection: close`): shutting down, or body left unread. */
  close: boolean;
}

/**
 * Whether the response is HTTP/2's.
 *
 * @param res - a public response
 * @returns true for an `Http2ServerResponse`
 * @example
 * ```ts
 * if (isHttp2(res)) res.stream.close();
 * ```
 */
export function isHttp2(res: PublicResponse): res is Http2ServerResponse {
  return "stream" in res;
}

const NO_BODY_STATUS = new Set([204, 205, 304]);

function writeHead(res: PublicResponse, status: number, reason: string, headers: HeaderList): void {
  if (!isHttp2(res)) {
    res.writeHead(status, reason || undefined, headers);
    return;
  }
  const object: OutgoingHttpHeaders = {};
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    const prev = object[name];
    if (prev === undefined) object[name] = value;
    else object[name] = Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
  res.writeHead(status, object);
}

function pushCommon(headers: HeaderList, res: PublicResponse, ctx: AnswerContext): void {
  for (const [name, value] of ctx.extraHeaders) headers.push(name, value);
  headers.push(MeshHeader.RequestId, ctx.requestId);
  if (ctx.close && !isHttp2(res)) headers.push("connection", "close");
}

/**
 * Writes a service's response: status, headers without hop-by-hop ones (provenance `mesh-*` headers
 * kept), the policies' headers, the gateway's request id, and the body with its length.
 *
 * @param res - the public response
 * @param wire - what the service answered
 * @param head - whether the request was a HEAD (no body is written; the service's length is kept)
 * @param ctx - request id, policy headers, connection close
 * @returns the status written
 * @throws the platform's error for a header value HTTP cannot carry, a `RangeError` for a 1xx status
 *   (nothing was sent then)
 * @example
 * ```ts
 * sendWire(res, await callService(nc, "weather", req, opts), false, ctx);
 * ```
 */
export function sendWire(res: PublicResponse, wire: WireResponse, head: boolean, ctx: AnswerContext): number {
  if (wire.status < 200) throw new RangeError(`cannot forward an interim status ${wire.status}`);
  const headers: HeaderList = [];
  let length: string | undefined;
  for (let i = 0; i < wire.headers.length; i += 2) {
    const name = wire.headers[i]!;
    const lower = name.toLowerCase();
    if (lower === "content-length") length = wire.headers[i + 1];
    else if (!HOP_BY_HOP.has(lower) && lower !== MeshHeader.RequestId)
      headers.push(name, wire.headers[i + 1]!);
  }
  pushCommon(headers, res, ctx);
  const bodyless = NO_BODY_STATUS.has(wire.status);
  if (!bodyless) headers.push("content-length", head ? (length ?? "0") : String(wire.body.byteLength));
  writeHead(res, wire.status, wire.statusText, headers);
  if (head || bodyless || wire.body.byteLength === 0) res.end();
  else res.end(wire.body);
  return wire.status;
}

/**
 * Writes a service's streamed response: the head at once (no `content-length` unless the service
 * declared one, so HTTP/1.1 sends it chunked), then each piece as it arrives — server-sent events
 * reach the client as they are produced. A slow client slows the stream (writes wait for 'drain', and
 * only then is the next piece read, which is what returns credit to the service). If the stream breaks
 * after the head went out, the response is cut (the connection or HTTP/2 stream reset) rather than
 * ended, so the client cannot take a truncated body as whole; if the client leaves, the stream is
 * cancelled, which aborts the exchange with the service.
 *
 * @param res - the public response
 * @param wire - what the service answered, with `stream` set
 * @param ctx - request id, policy headers, connection close
 * @returns the status written, once the body ended
 * @throws the stream's error when it broke before anything was written (nothing was sent then)
 * @example
 * ```ts
 * await sendStream(res, response, ctx);
 * ```
 */
export async function sendStream(
  res: PublicResponse,
  wire: WireResponse,
  ctx: AnswerContext,
): Promise<number> {
  if (wire.status < 200) throw new RangeError(`cannot forward an interim status ${wire.status}`);
  const stream = wire.stream!;
  const headers: HeaderList = [];
  for (let i = 0; i < wire.headers.length; i += 2) {
    const name = wire.headers[i]!;
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP.has(lower) && lower !== MeshHeader.RequestId) headers.push(name, wire.headers[i + 1]!);
  }
  pushCommon(headers, res, ctx);
  const reader = stream.getReader();
  const gone = () => reader.cancel(new Error("the client went away")).catch(() => undefined);
  res.once("close", gone);
  try {
    writeHead(res, wire.status, wire.statusText, headers);
    if (!isHttp2(res)) res.flushHeaders();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!(res as ServerResponse).write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.once("drain", go);
          res.once("close", go);
        });
      }
      if (res.destroyed) return wire.status;
    }
    res.end();
    return wire.status;
  } catch (err) {
    if (!res.headersSent) throw err;
    res.destroy(err instanceof Error ? err : new Error(String(err)));
    return wire.status;
  } finally {
    res.off("close", gone);
  }
}

function sendJson(
  res: PublicResponse,
  status: number,
  code: string,
  message: string,
  ctx: AnswerContext,
  more: HeaderList,
): number {
  const body = Buffer.from(JSON.stringify({ error: message, code, status, requestId: ctx.requestId }));
  const headers: HeaderList = ["content-type", "application/json", MeshHeader.Error, code, ...more];
  pushCommon(headers, res, ctx);
  headers.push("content-length", String(body.byteLength));
  writeHead(res, status, "", headers);
  res.end(body);
  return status;
}

/**
 * Writes a failure as a small JSON body `{"error", "code", "status", "requestId"}` with
 * `mesh-error: <code>`, and `Retry-After` for a 503. A response already under way is cut instead.
 *
 * @param res - the public response
 * @param error - what the caller is told (see `publicError`)
 * @param ctx - request id, policy headers, connection close
 * @returns the status written
 * @example
 * ```ts
 * sendError(res, publicError(err, 5000), ctx);
 * ```
 */
export function sendError(res: PublicResponse, error: PublicError, ctx: AnswerContext): number {
  if (res.headersSent || res.writableEnded) {
    res.destroy();
    return error.status;
  }
  const more = error.retryAfter === undefined ? [] : ["retry-after", String(error.retryAfter)];
  return sendJson(res, error.status, error.code, error.message, ctx, more);
}

/**
 * Writes a policy's own answer: its status and headers, a JSON error body for a status ≥ 400 (its
 * message and code), no body below (a 204 preflight).
 *
 * @param res - the public response
 * @param decision - the policy's `respond` decision
 * @param ctx - request id, headers of the policies that ran before, connection close
 * @returns the status written
 * @example
 * ```ts
 * sendDecision(res, { action: "respond", status: 401, message: "missing token" }, ctx);
 * ```
 */
export function sendDecision(res: PublicResponse, decision: Respond, ctx: AnswerContext): number {
  const own: HeaderList = [];
  for (const [name, value] of decision.headers ?? []) own.push(name, value);
  if (decision.status >= 400) {
    const code = decision.code ?? "NM_ERR_POLICY";
    return sendJson(res, decision.status, code, decision.message ?? "request refused", ctx, own);
  }
  pushCommon(own, res, ctx);
  if (!NO_BODY_STATUS.has(decision.status)) own.push("content-length", "0");
  writeHead(res, decision.status, "", own);
  res.end();
  return decision.status;
}
