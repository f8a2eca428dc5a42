import type { WireResponse } from "../protocol/index.js";
import { MeshResponse } from "./mesh-response.js";

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Builds a standard `Response` from a wire response. Statuses that cannot carry a body (204, 205,
 * 304) and HEAD responses get a null body, as `fetch` gives them.
 *
 * @param url - reported as `Response.url`.
 */
export function toResponse(res: WireResponse, url: string, method: string): Response {
  const headers = new Headers();
  const list = res.headers;
  for (let i = 0; i < list.length; i += 2) headers.append(list[i]!, list[i + 1]!);
  const body = NULL_BODY.has(res.status) || method === "HEAD" ? null : res.body;
  return new MeshResponse(body, { status: res.status, statusText: res.statusText, headers }, url);
}
