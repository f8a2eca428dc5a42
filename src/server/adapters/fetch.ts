import { Buffer } from "node:buffer";
import type { HeaderList, WireRequest, WireResponse } from "../../protocol/index.js";
import type { RequestControl } from "../exchange.js";
import { errorResponse, internalError } from "./errors.js";
import { lazyRequest } from "./lazy-request.js";
import { type LightParts, lightParts, nativeOf } from "./light-response.js";
import { settleBody, takeBody } from "./response-body.js";
import type { FetchHandler, RequestContext, WireHandler } from "./types.js";

const EMPTY = new Uint8Array(0);

function headerList(headers: Headers): HeaderList {
  const list: HeaderList = [];
  for (const [name, value] of headers) {
    if (name !== "set-cookie") list.push(name, value);
  }
  for (const cookie of headers.getSetCookie()) list.push("set-cookie", cookie);
  return list;
}

function isBodyless(method: string, status: number): boolean {
  // A response to HEAD, and a 204, 205 or 304, has no body (RFC 9110; PROTOCOL.md §3).
  return method === "HEAD" || status === 204 || status === 205 || status === 304;
}

/** The answer of a light response (light-response.ts): no stream was ever built for it. */
function lightAnswer(method: string, parts: LightParts): WireResponse {
  const { status, statusText, headers, body, type } = parts;
  const text = typeof body === "string";
  const res: WireResponse = { status, statusText, headers: [], body: EMPTY };
  if (headers !== undefined) res.headers = headerList(headers);
  else if (type !== null) res.headers = ["content-type", type];
  if (body !== null && !isBodyless(method, status)) res.body = text ? Buffer.from(body, "utf8") : body;
  return res;
}

/**
 * Adapts a Fetch handler `(Request) => Response` to the wire: the wire request becomes a `Request`
 * for `http://<host><path>`, the host being the request's `Host` or else the service name (built
 * lazily, see lazy-request.ts; a streamed request body is its `body` stream, and its `signal`
 * aborts when the caller leaves). The returned `Response`'s body is
 * sent as it is produced: bytes at once, a stream chunk by chunk. A GET or HEAD request's body, which
 * `Request` cannot carry, is dropped. A throw or rejection yields a safe 500; header values the Fetch
 * API refuses yield a 400.
 *
 * @example
 * ```ts
 * const wire = fetchAdapter((req) => new Response("hi"));
 * ```
 */
export function fetchAdapter(handler: FetchHandler): WireHandler {
  return async (req: WireRequest, ctx: RequestContext, control?: RequestControl): Promise<WireResponse> => {
    let request: Request;
    try {
      request = lazyRequest(req, ctx.service, control);
    } catch (err) {
      // Values the wire allows but the Fetch API refuses (e.g. characters above U+00FF in a header).
      return errorResponse(400, "NM_ERR_MALFORMED", `malformed message: ${(err as Error).message}`);
    }
    let response: Response;
    try {
      response = await handler(request);
      const light = lightParts(response);
      if (light !== undefined) return lightAnswer(req.method, light);
      if (!(response instanceof Response)) throw new TypeError("handler did not return a Response");
      // A light response already built its real one (a stream body, a body read): use that directly.
      response = nativeOf(response);
      if (response.status < 200)
        throw new TypeError(`handler returned status ${response.status}, not a final response`);
      const bodyless = isBodyless(req.method, response.status);
      const body = bodyless ? EMPTY : takeBody(response);
      if (bodyless && response.body) response.body.cancel().catch(() => undefined);
      const res: WireResponse = {
        status: response.status,
        statusText: response.statusText,
        headers: headerList(response.headers),
        body: EMPTY,
      };
      const settled = body instanceof Uint8Array ? body : await settleBody(body);
      if (settled instanceof Uint8Array) res.body = settled;
      else res.stream = settled;
      return res;
    } catch (err) {
      ctx.onError(err);
      return internalError();
    }
  };
}
