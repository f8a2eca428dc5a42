import type { HeaderList, WireRequest } from "../../protocol/index.js";
import type { RequestControl } from "../exchange.js";

/**
 * The `Request` a Fetch handler gets. It behaves as a platform Request for every use — `fetch(req)`,
 * `new Request(req)`, `req.clone()`, the body methods (also called as `Request.prototype.text.call(req)`),
 * `signal`, `headers`, `body`, `instanceof Request` — and, where the platform lets it, builds the
 * platform object only when the handler needs more than the method, URL and headers: `new Request()`
 * creates an AbortSignal and a body stream each time, a large part of the Fetch adapter's cost
 * (BENCHMARKS.md), and routers such as Hono read only `method`, `url` and `headers` for most requests.
 *
 * The platform's `fetch(input)`, `new Request(input)` and Request's own methods read the input's
 * internal state, not its public properties. undici 6 (Node 20, 22) keeps that state under symbol
 * keys, which a {@link LazyRequest} answers from the real Request it builds on first need
 * ({@link LAZY_REQUEST} is true). undici 7+ (Node 24, 26) keeps it in private fields that only its own
 * constructor makes, so there the handler gets the real Request, built at once.
 */
const kWire = Symbol("natsmesh.wire");
const kUrl = Symbol("natsmesh.url");
const kHeaders = Symbol("natsmesh.headers");
const kReal = Symbol("natsmesh.request");
const kControl = Symbol("natsmesh.control");
/** Fetch header values are byte strings: every character at most U+00FF. */
const NOT_BYTE_STRING = /[\u0100-\uffff]/;

/** The symbols under which the platform Request keeps its internal state (undici 6), else none. */
const INTERNAL_KEYS: symbol[] = Object.getOwnPropertySymbols(new Request("http://localhost/"));

/**
 * Whether handlers get a {@link LazyRequest}: the platform Request keeps its state where one can
 * answer for it (undici 6: Node 20, 22). Otherwise they get a real Request.
 */
export const LAZY_REQUEST: boolean = INTERNAL_KEYS.some((key) => key.description === "state");

function appendAll(headers: Headers, list: HeaderList): Headers {
  for (let i = 0; i < list.length; i += 2) headers.append(list[i]!, list[i + 1]!);
  return headers;
}

/**
 * The platform Request for a wire request. Its headers are appended to the Request's own `Headers`
 * (one object fewer than passing them in `init`), unless `headers` was already handed out.
 */
function platformRequest(
  wire: WireRequest,
  url: string,
  control: RequestControl | undefined,
  headers: Headers | undefined,
): Request {
  const canHaveBody = wire.method !== "GET" && wire.method !== "HEAD";
  const init: RequestInit & { duplex?: "half" } = { method: wire.method };
  if (headers !== undefined) init.headers = headers;
  if (canHaveBody && wire.stream !== undefined) {
    init.body = wire.stream;
    init.duplex = "half";
  } else if (canHaveBody && wire.body.byteLength > 0) {
    init.body = wire.body as BodyInit;
  }
  if (control !== undefined) init.signal = control.signal;
  const req = new Request(url, init);
  if (headers === undefined) appendAll(req.headers, wire.headers);
  return req;
}

/** A Request that answers `method`, `url` and `headers` from the wire and the rest from a real one. */
class LazyRequest {
  [kWire]: WireRequest;
  [kUrl]: string;
  [kHeaders]: Headers | undefined;
  [kReal]: Request | undefined;
  [kControl]: RequestControl | undefined;

  constructor(wire: WireRequest, url: string, control: RequestControl | undefined) {
    this[kWire] = wire;
    this[kUrl] = url;
    this[kControl] = control;
  }

  get method(): string {
    return this[kWire].method;
  }

  get url(): string {
    return this[kUrl];
  }

  get headers(): Headers {
    let headers = this[kHeaders];
    if (headers === undefined) {
      headers = appendAll(new Headers(), this[kWire].headers);
      this[kHeaders] = headers;
    }
    return headers;
  }
}

/**
 * The real Request behind `self`, built once. Headers handed out before are copied into it (later
 * changes to that object do not reach it); after, `headers` is the real Request's own.
 */
function real(self: LazyRequest): Request {
  let req = self[kReal];
  if (req === undefined) {
    req = platformRequest(self[kWire], self[kUrl], self[kControl], self[kHeaders]);
    self[kHeaders] ??= req.headers;
    self[kReal] = req;
  }
  return req;
}

if (LAZY_REQUEST) {
  for (const name of Object.getOwnPropertyNames(Request.prototype)) {
    if (name === "constructor" || name === "method" || name === "url" || name === "headers") continue;
    const desc = Object.getOwnPropertyDescriptor(Request.prototype, name)!;
    if (desc.get) {
      Object.defineProperty(LazyRequest.prototype, name, {
        get(this: LazyRequest) {
          return (real(this) as unknown as Record<string, unknown>)[name];
        },
        configurable: true,
      });
    } else if (typeof desc.value === "function") {
      Object.defineProperty(LazyRequest.prototype, name, {
        value(this: LazyRequest, ...args: unknown[]) {
          const req = real(this) as unknown as Record<string, (...a: unknown[]) => unknown>;
          return req[name]!.apply(req, args);
        },
        configurable: true,
        writable: true,
      });
    }
  }
  // The platform's own code (fetch, new Request(input), Request.prototype's methods called on this
  // object) reads these keys: they answer from the real Request.
  for (const key of INTERNAL_KEYS) {
    Object.defineProperty(LazyRequest.prototype, key, {
      get(this: LazyRequest) {
        return (real(this) as unknown as Record<symbol, unknown>)[key];
      },
      configurable: true,
    });
  }
  Object.setPrototypeOf(LazyRequest.prototype, Request.prototype);
}

/** A `Host` value that makes a well-formed URL authority: a name or IPv4, or a bracketed IPv6, and a port. */
const URL_HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/**
 * The `Request` for `http://<host><path>` over a wire request that a Fetch handler gets: a
 * {@link LazyRequest} where the platform allows ({@link LAZY_REQUEST}), else the real one (see the
 * module comment). The host is the request's `Host` when it has one (the gateway forwards the public
 * one), else the service name — the host a Node handler sees in `req.headers.host` too. Its `signal`
 * aborts when the caller leaves (`control`).
 *
 * @throws TypeError when a header value is one the Fetch API refuses (checked up front, so the
 *   failure is a 400 before the handler runs, not an error inside it).
 */
export function lazyRequest(wire: WireRequest, service: string, control?: RequestControl): Request {
  const list = wire.headers;
  let host = service;
  for (let i = 1; i < list.length; i += 2) {
    const value = list[i]!;
    if (NOT_BYTE_STRING.test(value)) {
      throw new TypeError(
        `header '${list[i - 1]}' has a character above U+00FF, which the Fetch API refuses`,
      );
    }
    const name = list[i - 1]!;
    if (name.length === 4 && name.toLowerCase() === "host" && URL_HOST.test(value)) host = value;
  }
  const url = `http://${host}${wire.path}`;
  if (!LAZY_REQUEST) return platformRequest(wire, url, control, undefined);
  return new LazyRequest(wire, url, control) as unknown as Request;
}
