import type { WireResponse } from "../protocol/index.js";
import { MeshResponse } from "./mesh-response.js";

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Builds a standard `Response` from a wire response: over bytes in memory, or over the streamed
 * body's `ReadableStream`. Statuses that cannot carry a body (204, 205, 304) and HEAD responses get a
 * null body, as `fetch` gives them.
 *
 * @param url - reported as `Response.url`.
 */
export function toResponse(res: WireResponse, url: string, method: string): Response {
  const headers = new Headers();
  const list = res.headers;
  for (let i = 0; i < list.length; i += 2) headers.append(list[i]!, list[i + 1]!);
  const init = { status: res.status, statusText: res.statusText, headers };
  if (NULL_BODY.has(res.status) || method === "HEAD") {
    res.stream?.cancel().catch(() => undefined);
    return new MeshResponse(null, init, url);
  }
  if (res.stream !== undefined) return withUrl(new Response(res.stream, init), url);
  return new MeshResponse(res.body, init, url);
}

/** A platform `Response` reporting `url` (its own `url` is read-only and empty when constructed). */
function withUrl(res: Response, url: string): Response {
  Object.defineProperty(res, "url", { value: url, enumerable: true });
  return res;
}
