/**
 * Redirects within the mesh, as the Fetch standard's HTTP-redirect fetch
 * (https://fetch.spec.whatwg.org/#http-redirect-fetch) follows them.
 *
 * @module
 */
import {
  type HeaderList,
  headerValue,
  RedirectError,
  RedirectOutsideError,
  serviceFromHost,
  type WireRequest,
  type WireResponse,
} from "../protocol/index.js";

/**
 * What a client does with a redirect to a URL outside the mesh.
 *
 * @example
 * ```ts
 * const fetch = createFetch({ externalRedirect: "platform" }); // or "error" (default), or a fetch function
 * ```
 */
export type ExternalRedirect = "error" | "platform" | typeof fetch;

/** The Fetch standard's redirect statuses (https://fetch.spec.whatwg.org/#redirect-status). */
export function isRedirectStatus(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** The standard's limit: the 21st redirect is a network error (HTTP-redirect fetch, step 6). */
const MAX_REDIRECTS = 20;
const EMPTY = new Uint8Array(0);
/** Request-body-header names (https://fetch.spec.whatwg.org/#request-body-header-name), and the length. */
const BODY_HEADERS = new Set([
  "content-encoding",
  "content-language",
  "content-location",
  "content-type",
  "content-length",
]);

/** What {@link followRedirects} needs of the client that made the call. */
export interface RedirectContext {
  /** The request's redirect mode. */
  mode: NonNullable<RequestInit["redirect"]>;
  /** Host suffixes that name services. */
  suffixes: readonly string[];
  /** What to do with a redirect out of the mesh. */
  external: ExternalRedirect;
  /** The call's signal, handed on to the platform's fetch. */
  signal: AbortSignal | undefined;
  /** Milliseconds left of the call's deadline (0: none); throws a `TimeoutError` once it has passed. */
  remaining(service: string, method: string): number;
  /** Sends one request of the chain to `service`. */
  send(service: string, request: WireRequest, timeout: number): Promise<WireResponse>;
}

/** Where a chain of redirects ended inside the mesh. */
export interface RedirectEnd {
  res: WireResponse;
  url: string;
  method: string;
  service: string;
  redirected: boolean;
}

/** The standard's network error: `TypeError("fetch failed")` with the reason as its cause. */
function networkError(message: string, service: string): TypeError {
  return new TypeError("fetch failed", { cause: new RedirectError(message, { service }) });
}

/** Frees a redirect response's body the caller will never see. */
function discard(res: WireResponse): void {
  res.stream?.cancel().catch(() => undefined);
}

/**
 * Whether `url` is a service of the mesh: an http(s) URL whose host ends with one of the suffixes
 * (`billing.nats`) or is the host of the request that was redirected (a relative Location), and
 * names a valid service.
 */
function meshService(url: URL, current: URL, suffixes: readonly string[]): string | undefined {
  const host = url.hostname;
  const inside =
    host === current.hostname || suffixes.some((s) => host.endsWith(s) && host.length > s.length);
  if (!inside) return undefined;
  try {
    return serviceFromHost(host, suffixes);
  } catch {
    return undefined;
  }
}

function withoutFragment(url: URL): string {
  if (url.hash === "") return url.href;
  return url.href.slice(0, url.href.length - url.hash.length);
}

/**
 * Follows `res`, a redirect status answered to `request`, as the Fetch standard does for the
 * request's mode: `manual` returns it as is, `error` rejects, `follow` sends the request on (up to 20
 * times) with the method and body the standard keeps, inside the mesh, or hands it to the platform's
 * fetch when `external` says so.
 *
 * @returns where the chain ended in the mesh, or the platform's `Response` for one that left it.
 * @throws TypeError (cause {@link RedirectError}) for the standard's network errors.
 * @throws {@link RedirectOutsideError} for a redirect out of the mesh with `external: "error"`.
 */
export async function followRedirects(
  res: WireResponse,
  url: string,
  request: WireRequest,
  service: string,
  ctx: RedirectContext,
): Promise<RedirectEnd | Response> {
  let count = 0;
  let current = new URL(url);
  let req = request;
  let svc = service;
  for (;;) {
    if (ctx.mode === "manual") break;
    if (ctx.mode === "error") {
      discard(res);
      throw networkError(`service '${svc}' answered ${res.status} and the redirect mode is "error"`, svc);
    }
    const location = headerValue(res.headers, "location");
    // No Location: the response itself (HTTP-redirect fetch, step 3).
    if (location === undefined) break;
    discard(res);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw networkError(`service '${svc}' redirected to an invalid URL '${location}'`, svc);
    }
    if (next.protocol !== "http:" && next.protocol !== "https:")
      throw networkError(`service '${svc}' redirected to a URL that is not http(s): ${next.href}`, svc);
    if (count === MAX_REDIRECTS) throw networkError(`more than ${MAX_REDIRECTS} redirects`, svc);
    count++;
    // Step 10: a body that was streamed cannot be sent again.
    if (res.status !== 303 && req.stream !== undefined)
      throw networkError(
        `service '${svc}' answered ${res.status}: a streamed request body cannot be sent again`,
        svc,
      );
    let { method, headers, body } = req;
    // Step 11: POST after 301/302, anything but GET/HEAD after 303, becomes a GET without a body.
    if (
      ((res.status === 301 || res.status === 302) && method === "POST") ||
      (res.status === 303 && method !== "GET" && method !== "HEAD")
    ) {
      method = "GET";
      body = EMPTY;
      headers = dropHeaders(headers, (name) => BODY_HEADERS.has(name));
    }
    // Step 12: credentials stay with their origin.
    if (next.origin !== current.origin) headers = dropHeaders(headers, (name) => name === "authorization");
    const nextService = meshService(next, current, ctx.suffixes);
    if (nextService === undefined) {
      if (ctx.external === "error") throw new RedirectOutsideError(withoutFragment(next), { service: svc });
      return platformFetch(ctx, next, method, headers, body);
    }
    req = { method, path: `${next.pathname}${next.search}`, headers, body };
    current = next;
    svc = nextService;
    res = await ctx.send(svc, req, ctx.remaining(svc, method));
    if (!isRedirectStatus(res.status)) break;
  }
  return { res, url: withoutFragment(current), method: req.method, service: svc, redirected: count > 0 };
}

function dropHeaders(headers: HeaderList, drop: (lowerName: string) => boolean): HeaderList {
  const kept: HeaderList = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!drop(headers[i]!.toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
  }
  return kept;
}

/** Hands a redirect out of the mesh to the platform's (or the given) fetch, within the call's deadline. */
async function platformFetch(
  ctx: RedirectContext,
  url: URL,
  method: string,
  headers: HeaderList,
  body: Uint8Array,
): Promise<Response> {
  const timeout = ctx.remaining(url.hostname, method);
  const signals: AbortSignal[] = [];
  if (ctx.signal) signals.push(ctx.signal);
  if (timeout > 0) signals.push(AbortSignal.timeout(timeout));
  const pairs: [string, string][] = [];
  for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i]!, headers[i + 1]!]);
  const send = ctx.external === "platform" ? globalThis.fetch : (ctx.external as typeof fetch);
  const res = await send(url.href, {
    method,
    headers: pairs,
    body:
      method === "GET" || method === "HEAD" || body.byteLength === 0
        ? undefined
        : (body as Uint8Array<ArrayBuffer>),
    redirect: ctx.mode,
    signal: signals.length === 0 ? undefined : AbortSignal.any(signals),
  });
  Object.defineProperty(res, "redirected", { value: true, enumerable: true });
  return res;
}
