import { Buffer } from "node:buffer";
import { type HeaderList, InvalidServiceError, isHopByHop, type WireRequest } from "../protocol/index.js";

const NORMALISED_METHODS: Record<string, string> = {
  delete: "DELETE",
  get: "GET",
  head: "HEAD",
  options: "OPTIONS",
  post: "POST",
  put: "PUT",
};
const EMPTY = new Uint8Array(0);
const TEXT_PLAIN = "text/plain;charset=UTF-8";

/** A fetch call laid out for the wire, plus what the client needs beside it. */
export interface OutgoingCall {
  /** The full URL, as `Response.url` reports it. */
  url: string;
  /** URL host (service name plus any suffix). */
  hostname: string;
  request: WireRequest;
  signal: AbortSignal | undefined;
}

/** Fetch's method normalisation: the six standard methods are upper-cased, others kept as given. */
export function normaliseMethod(method: string | undefined): string {
  if (!method) return "GET";
  return NORMALISED_METHODS[method.toLowerCase()] ?? method;
}

function pushHeaders(list: HeaderList, init: HeadersInit | undefined): boolean {
  let hasContentType = false;
  const add = (name: string, value: string) => {
    if (isHopByHop(name)) return;
    if (!hasContentType && name.length === 12 && name.toLowerCase() === "content-type") hasContentType = true;
    list.push(name, value);
  };
  if (!init) return false;
  if (init instanceof Headers) {
    for (const [name, value] of init) {
      if (name === "set-cookie") continue;
      add(name, value);
    }
    for (const cookie of init.getSetCookie()) add("set-cookie", cookie);
  } else if (Array.isArray(init)) {
    for (const pair of init) {
      if (pair.length !== 2) throw new TypeError("header pairs must have exactly two items");
      add(String(pair[0]), String(pair[1]));
    }
  } else {
    for (const name of Object.keys(init)) {
      const value = (init as Record<string, string | readonly string[]>)[name];
      if (Array.isArray(value)) for (const v of value) add(name, String(v));
      else add(name, String(value));
    }
  }
  return hasContentType;
}

function isSimpleBody(body: unknown): body is string | Uint8Array | ArrayBuffer | null | undefined {
  return (
    body === undefined ||
    body === null ||
    typeof body === "string" ||
    body instanceof Uint8Array ||
    body instanceof ArrayBuffer
  );
}

/**
 * Lays a fetch call out for the wire. Strings, byte arrays and empty bodies take a fast path, answered
 * at once (no promise); a `ReadableStream` body becomes a streamed request body; every other body
 * type (Blob, FormData, URLSearchParams) and `Request` inputs go through the platform's `Request`, so
 * content types and encodings are exactly what `fetch` would send (a promise, since the body is read).
 *
 * @throws TypeError as `fetch` does for a bad URL, or a body on GET/HEAD.
 * @throws {@link InvalidServiceError} when the host is not a valid service name.
 */
export function toWire(
  input: string | URL | Request,
  init: RequestInit | undefined,
): OutgoingCall | Promise<OutgoingCall> {
  const raw = init?.body;
  if (!(input instanceof Request) && raw instanceof ReadableStream) {
    // A streamed body (`duplex: "half"`): it goes to the instance chunk by chunk (PROTOCOL.md §8).
    const method = normaliseMethod(init?.method);
    if (method === "GET" || method === "HEAD")
      throw new TypeError("Request with GET/HEAD method cannot have body.");
    const headers: HeaderList = [];
    pushHeaders(headers, init?.headers);
    const call = fromUrl(
      typeof input === "string" ? input : input.href,
      method,
      headers,
      EMPTY,
      init?.signal ?? undefined,
    );
    call.request.stream = raw as ReadableStream<Uint8Array>;
    return call;
  }
  if (input instanceof Request || !isSimpleBody(raw)) return viaRequest(input, init);
  const method = normaliseMethod(init?.method);
  const headers: HeaderList = [];
  const hasContentType = pushHeaders(headers, init?.headers);
  let body = EMPTY;
  if (raw !== undefined && raw !== null) {
    if (method === "GET" || method === "HEAD")
      throw new TypeError("Request with GET/HEAD method cannot have body.");
    if (typeof raw === "string") {
      body = Buffer.from(raw, "utf8");
      if (!hasContentType) headers.push("content-type", TEXT_PLAIN);
    } else {
      body = raw instanceof Uint8Array ? raw : new Uint8Array(raw);
    }
  }
  return fromUrl(
    typeof input === "string" ? input : input.href,
    method,
    headers,
    body,
    init?.signal ?? undefined,
  );
}

/** The general path: the platform's `Request` lays the call out, its body read whole. */
async function viaRequest(
  input: string | URL | Request,
  init: RequestInit | undefined,
): Promise<OutgoingCall> {
  const req = new Request(input, init);
  const headers: HeaderList = [];
  pushHeaders(headers, req.headers);
  const body = req.body ? new Uint8Array(await req.arrayBuffer()) : EMPTY;
  return fromUrl(
    req.url,
    req.method,
    headers,
    body,
    init?.signal ?? (input instanceof Request ? req.signal : undefined),
  );
}

/**
 * `http(s)://host/path?query` with nothing a WHATWG URL parser would change: a lower-case host of
 * letters, digits and hyphens whose last label does not start with a digit (an IPv4 form), no port, no
 * punycode, no fragment; path and query of characters it keeps as they are, no dot segments, no empty
 * query. Anything else goes through `new URL()`.
 */
const PLAIN_URL =
  /^https?:\/\/((?:[a-z0-9_-]+\.)*[a-z_-][a-z0-9_-]*)(\/[A-Za-z0-9\-._~!$&()*+,;=:@/%]*)?(\?[A-Za-z0-9\-._~!$&()*+,;=:@/?%]+)?$/;

/**
 * The parts `new URL(href)` would give for a plain URL (see {@link PLAIN_URL}), without building one:
 * `new URL()` per call showed in the client's profile (BENCHMARKS.md). Undefined for any other URL.
 */
export function plainUrl(href: string): { href: string; hostname: string; path: string } | undefined {
  const m = PLAIN_URL.exec(href);
  if (m === null) return undefined;
  const hostname = m[1]!;
  const pathname = m[2];
  if (hostname.includes("xn--")) return undefined;
  if (
    pathname !== undefined &&
    (pathname.includes("/.") || pathname.includes("%2e") || pathname.includes("%2E"))
  )
    return undefined;
  const query = m[3] ?? "";
  if (pathname === undefined) {
    return { href: `${href.slice(0, href.length - query.length)}/${query}`, hostname, path: `/${query}` };
  }
  return { href, hostname, path: pathname + query };
}

function fromUrl(
  href: string,
  method: string,
  headers: HeaderList,
  body: Uint8Array,
  signal: AbortSignal | undefined,
): OutgoingCall {
  const plain = plainUrl(href);
  if (plain !== undefined) {
    return {
      url: plain.href,
      hostname: plain.hostname,
      request: { method, path: plain.path, headers, body },
      signal,
    };
  }
  let url: URL;
  try {
    url = new URL(href);
  } catch (err) {
    throw new TypeError(`Failed to parse URL from ${href}`, { cause: err });
  }
  if (!url.hostname) throw new InvalidServiceError(`URL '${href}' has no host to name a service`);
  return {
    url: url.href,
    hostname: url.hostname,
    request: { method, path: `${url.pathname}${url.search}`, headers, body },
    signal,
  };
}
