import type { WireResponse } from "../protocol/index.js";
import { assertFetchHeaders, MeshResponse, toHeaders } from "./mesh-response.js";

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Builds a standard `Response` from a wire response: over bytes in memory, or over the streamed
 * body's `ReadableStream`. Statuses that cannot carry a body (204, 205, 304) and HEAD responses get a
 * null body, as `fetch` gives them.
 *
 * @param url - reported as `Response.url`.
 */
export function toResponse(res: WireResponse, url: string, method: string): Response {
  const init = { status: res.status, statusText: res.statusText };
  const bodyless = NULL_BODY.has(res.status) || method === "HEAD";
  if (res.stream !== undefined && !bodyless) {
    return withUrl(new Response(res.stream, { ...init, headers: toHeaders(res.headers) }), url);
  }
  assertFetchHeaders(res.headers);
  if (bodyless) {
    res.stream?.cancel().catch(() => undefined);
    return new MeshResponse(null, init, url, res.headers);
  }
  return new MeshResponse(res.body, init, url, res.headers);
}

/** `res`, reporting `redirected` true: it is the end of a chain of redirects. */
export function markRedirected(res: Response): Response {
  Object.defineProperty(res, "redirected", { value: true, enumerable: true });
  return res;
}

/** A platform `Response` reporting `url` (its own `url` is read-only and empty when constructed). */
function withUrl(res: Response, url: string): Response {
  Object.defineProperty(res, "url", { value: url, enumerable: true });
  return res;
}
