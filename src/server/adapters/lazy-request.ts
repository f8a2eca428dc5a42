import type { WireRequest } from "../../protocol/index.js";
import type { RequestControl } from "../exchange.js";

/**
 * A `Request` for Fetch handlers that builds the platform object only when the handler needs more
 * than the method, URL and headers. `new Request()` creates an AbortSignal and a body stream each
 * time, a large part of the Fetch adapter's cost (BENCHMARKS.md). Routers such as Hono read only
 * `method`, `url` and `headers` for most requests.
 *
 * `instanceof Request` holds; every other property and method is answered by the real `Request`,
 * created on first use. One difference remains: the platform `fetch(request)` and
 * `new Request(request)` check for their own internal slots, so forward such a request as
 * `fetch(url, request)` or `new Request(url, request)` — both read the public properties.
 */
const kWire = Symbol("natsmesh.wire");
const kUrl = Symbol("natsmesh.url");
const kHeaders = Symbol("natsmesh.headers");
const kReal = Symbol("natsmesh.request");
const kControl = Symbol("natsmesh.control");
/** Fetch header values are byte strings: every character at most U+00FF. */
const NOT_BYTE_STRING = /[\u0100-\uffff]/;

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
    if (!headers) {
      headers = new Headers();
      const list = this[kWire].headers;
      for (let i = 0; i < list.length; i += 2) headers.append(list[i]!, list[i + 1]!);
      this[kHeaders] = headers;
    }
    return headers;
  }
}

function real(self: LazyRequest): Request {
  let req = self[kReal];
  if (!req) {
    const wire = self[kWire];
    const canHaveBody = wire.method !== "GET" && wire.method !== "HEAD";
    const init: RequestInit & { duplex?: "half" } = { method: wire.method, headers: self.headers };
    if (canHaveBody && wire.stream !== undefined) {
      init.body = wire.stream;
      init.duplex = "half";
    } else if (canHaveBody && wire.body.byteLength > 0) {
      init.body = wire.body as BodyInit;
    }
    const control = self[kControl];
    if (control !== undefined) init.signal = control.signal;
    req = new Request(self[kUrl], init);
    self[kReal] = req;
  }
  return req;
}

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
Object.setPrototypeOf(LazyRequest.prototype, Request.prototype);

/** A `Host` value that makes a well-formed URL authority: a name or IPv4, or a bracketed IPv6, and a port. */
const URL_HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/**
 * A `Request` for `http://<host><path>` over a wire request (see the module comment). The host is
 * the request's `Host` when it has one (the gateway forwards the public one), else the service
 * name — the host a Node handler sees in `req.headers.host` too.
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
  return new LazyRequest(wire, `http://${host}${wire.path}`, control) as unknown as Request;
}
