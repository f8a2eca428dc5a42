import type { HeaderList, WireRequest } from "../../protocol/index.js";
import type { RequestControl } from "../exchange.js";
import { BODY_READS, BODY_UNUSABLE, type BodyRead, readBody } from "./request-body.js";

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
 * constructor makes, so there the handler gets a real one, built at once: an {@link InMemoryRequest}
 * when its body is in memory.
 *
 * Either way, a body that is all in memory (not a streamed one) is read straight from the wire's
 * bytes by `arrayBuffer()`, `blob()`, `bytes()`, `formData()`, `json()` and `text()`
 * (request-body.ts), never through the platform's stream; the platform Request's own body is then
 * marked used (its stream cancelled), so `bodyUsed`, a second read, `clone()`, `new Request(req)`
 * and `fetch(req)` behave as after a platform read. The platform's methods called on it
 * (`Request.prototype.text.call(req)`) and `body` read the platform's stream as usual.
 */
const kWire = Symbol("natsmesh.wire");
const kUrl = Symbol("natsmesh.url");
const kHeaders = Symbol("natsmesh.headers");
const kReal = Symbol("natsmesh.request");
const kControl = Symbol("natsmesh.control");
const kUsed = Symbol("natsmesh.used");
const kRead = Symbol("natsmesh.read");
/** Fetch header values are byte strings: every character at most U+00FF. */
const NOT_BYTE_STRING = /[\u0100-\uffff]/;

/** The symbols under which the platform Request keeps its internal state (undici 6), else none. */
const INTERNAL_KEYS: symbol[] = Object.getOwnPropertySymbols(new Request("http://localhost/"));

/**
 * Whether handlers get a {@link LazyRequest}: the platform Request keeps its state where one can
 * answer for it (undici 6: Node 20, 22). Otherwise they get a real Request.
 */
export const LAZY_REQUEST: boolean = INTERNAL_KEYS.some((key) => key.description === "state");

/** The platform's own `body` and `bodyUsed` getters, which read its internal state. */
const platformBody = Object.getOwnPropertyDescriptor(Request.prototype, "body")!.get!;
const platformBodyUsed = Object.getOwnPropertyDescriptor(Request.prototype, "bodyUsed")!.get!;

/** The body reads the platform's Request has (all of {@link BODY_READS} on every supported Node). */
const PLATFORM_READS = BODY_READS.filter(
  (name) => typeof (Request.prototype as unknown as Record<string, unknown>)[name] === "function",
);

/** Whether a platform Request's body can no longer be read (Fetch §6.2 "unusable"). */
function unusable(req: Request): boolean {
  const body = platformBody.call(req) as ReadableStream | null;
  return body !== null && (body.locked || (platformBodyUsed.call(req) as boolean));
}

/** Marks a platform Request's body used, as a read would, without reading it. */
function disturb(req: Request): void {
  (platformBody.call(req) as ReadableStream | null)?.cancel().catch(() => undefined);
}

/** Whether a request with `method` carries a body (`Request` refuses one on GET and HEAD). */
function canHaveBody(method: string): boolean {
  return method !== "GET" && method !== "HEAD";
}

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
  const withBody = canHaveBody(wire.method);
  const init: RequestInit & { duplex?: "half" } = { method: wire.method };
  if (headers !== undefined) init.headers = headers;
  if (withBody && wire.stream !== undefined) {
    init.body = wire.stream;
    init.duplex = "half";
  } else if (withBody && wire.body.byteLength > 0) {
    init.body = wire.body as BodyInit;
  }
  if (control !== undefined) init.signal = control.signal;
  const req =
    !LAZY_REQUEST && init.body instanceof Uint8Array
      ? new InMemoryRequest(url, init, wire.body)
      : new Request(url, init);
  if (headers === undefined) appendAll(req.headers, wire.headers);
  // The platform's Request follows `init.signal` through a weak reference (undici keeps a Request
  // collectable while its signal's source lives): a handler that waits only on `req.signal` holds
  // nothing the instance holds, and after a garbage collection the abort would never reach it. The
  // exchange keeps the Request reachable until the request ends.
  control?.onAbort(() => void req);
  return req;
}

/** The wire's body when the Request has one that is all in memory; null without a body; undefined when streamed. */
function inMemoryBody(wire: WireRequest): Uint8Array | null | undefined {
  if (!canHaveBody(wire.method)) return null;
  if (wire.stream !== undefined) return undefined;
  return wire.body.byteLength > 0 ? wire.body : null;
}

/**
 * A platform Request (undici 7+: Node 24, 26) over a body in memory, whose body reads take the bytes
 * directly (see the module comment). Everything else is the platform's.
 */
class InMemoryRequest extends Request {
  readonly #bytes: Uint8Array;

  constructor(url: string, init: RequestInit, bytes: Uint8Array) {
    super(url, init);
    this.#bytes = bytes;
  }

  /** One read of the bytes: the platform's body is marked used, as a read of it would be. */
  #read(read: BodyRead): Promise<never> {
    if (unusable(this)) return Promise.reject(new TypeError(BODY_UNUSABLE));
    disturb(this);
    return readBody(read, this.#bytes, this.headers.get("content-type")) as Promise<never>;
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    return this.#read("arrayBuffer");
  }

  override blob(): Promise<Blob> {
    return this.#read("blob");
  }

  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.#read("bytes");
  }

  override formData(): Promise<FormData> {
    return this.#read("formData");
  }

  override json(): Promise<unknown> {
    return this.#read("json");
  }

  override text(): Promise<string> {
    return this.#read("text");
  }
}

/** A Request that answers `method`, `url` and `headers` from the wire and the rest from a real one. */
class LazyRequest {
  [kWire]: WireRequest;
  [kUrl]: string;
  [kHeaders]: Headers | undefined;
  [kReal]: Request | undefined;
  [kControl]: RequestControl | undefined;
  /** The body was read from the wire's bytes (the real Request, when built, is marked used). */
  [kUsed] = false;

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

  get bodyUsed(): boolean {
    const req = this[kReal];
    return req === undefined ? this[kUsed] : (platformBodyUsed.call(req) as boolean);
  }

  /** One body read: from the wire's bytes when they are all in memory, else the real Request's. */
  [kRead](read: BodyRead): Promise<unknown> {
    const wire = this[kWire];
    const bytes = inMemoryBody(wire);
    if (bytes === undefined) {
      const req = real(this) as unknown as Record<BodyRead, () => Promise<unknown>>;
      return req[read]();
    }
    // A request without a body reads as empty, as often as asked (Fetch §6.2: a null body is never used).
    const headers = this[kHeaders];
    const contentType =
      headers === undefined ? headerOf(wire.headers, "content-type") : headers.get("content-type");
    if (bytes === null) return readBody(read, EMPTY, contentType);
    const req = this[kReal];
    if (this[kUsed] || (req !== undefined && unusable(req)))
      return Promise.reject(new TypeError(BODY_UNUSABLE));
    this[kUsed] = true;
    if (req !== undefined) disturb(req);
    return readBody(read, bytes, contentType);
  }
}

const EMPTY = new Uint8Array(0);

/** The first value of header `name` (lower-case) in a wire list, or null. */
function headerOf(list: HeaderList, name: string): string | null {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i]!.length === name.length && list[i]!.toLowerCase() === name) return list[i + 1]!;
  }
  return null;
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
    if (self[kUsed]) disturb(req);
  }
  return req;
}

if (LAZY_REQUEST) {
  for (const name of PLATFORM_READS) {
    Object.defineProperty(LazyRequest.prototype, name, {
      value(this: LazyRequest) {
        return this[kRead](name);
      },
      configurable: true,
      writable: true,
    });
  }
  for (const name of Object.getOwnPropertyNames(Request.prototype)) {
    if (name === "constructor" || Object.hasOwn(LazyRequest.prototype, name)) continue;
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
