/**
 * A `Response` that costs nothing until something reads it like a stream. On Node 20, every
 * `new Response(body)` builds a ReadableStream for its body, and building one (`makeTransferable`) is
 * the largest single cost of a Fetch handler's instance (BENCHMARKS.md, "Measured reasons for fast
 * paths"), although a handler that answers `new Response("text")` never needs that stream: the
 * adapter sends the bytes.
 *
 * {@link acquireLightResponse} replaces `globalThis.Response` with {@link LightResponse}, a subclass
 * in the prototype chain only: it keeps the checked status, headers and body (bytes copied), and
 * the adapter takes them from there ({@link lightParts}). Anything else — `body`, `text()`,
 * `clone()`, `bodyUsed`, any other member — builds the real Response once, from those parts, and
 * delegates to it, so a handler sees standard behaviour. `instanceof Response` holds for real and
 * light responses alike. `LightResponse.json(data, init)` is light too (its body is the JSON text,
 * typed `application/json`); `Response.error` and `Response.redirect` are the real ones. Arguments the
 * real constructor (or `Response.json`) would refuse are handed to it, for its error: only a string,
 * bytes or no body, a status in 200–599 and a plain status text stay light.
 * Nothing global is replaced by default: `serve({ overrideGlobalResponse: true })` asks for it
 * (@hono/node-server makes the same trade with its `overrideGlobalObjects`, on by default there), and
 * the last such instance to stop puts the original back.
 */
import { Buffer } from "node:buffer";

const NativeResponse: typeof Response = globalThis.Response;

/** The content type the real constructor gives a string body that has none. */
export const TEXT_CONTENT_TYPE = "text/plain;charset=UTF-8";
/** The content type `Response.json()` gives its body when the headers name none. */
export const JSON_CONTENT_TYPE = "application/json";
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
/**
 * What `new Response(body)` takes, from the platform's own `Response` (the DOM lib's `BodyInit` is not
 * declared for a project on `@types/node` without it).
 */
type ResponseBody = ConstructorParameters<typeof Response>[0];

/** What the adapter needs of a light response: nothing here has been read as a stream. */
export interface LightParts {
  status: number;
  statusText: string;
  /**
   * The headers, with the content type the body implies; undefined while none were given or read
   * (then the only header is `content-type: <type>`, or none when `type` is null).
   */
  headers: Headers | undefined;
  body: Uint8Array | string | null;
  /**
   * The content type the body implies: {@link TEXT_CONTENT_TYPE} for a string given to the
   * constructor, {@link JSON_CONTENT_TYPE} for `json()`'s, null for bytes or no body.
   */
  type: string | null;
}

type LightBody = Uint8Array | string | null;

function lightBody(body: unknown): LightBody | undefined {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") return body;
  // Copies, as the real constructor makes: bytes changed after `new Response(bytes)` are not sent.
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  return undefined;
}

/** Whether `init`'s status and status text are ones a light response holds (else the platform decides). */
function staysLight(init: ResponseInit | undefined, withBody: boolean): boolean {
  const status = init?.status ?? 200;
  const statusText = init?.statusText ?? "";
  return (
    Number.isInteger(status) &&
    status >= 200 &&
    status <= 599 &&
    typeof statusText === "string" &&
    REASON.test(statusText) &&
    !(withBody && (status === 204 || status === 205 || status === 304)) // a null-body status
  );
}

/** The checked status, status text and headers of `init` for a light body, or undefined when they do not stay light. */
function lightPartsOf(
  body: LightBody,
  type: string | null,
  init: ResponseInit | undefined,
): LightParts | undefined {
  if (!staysLight(init, body !== null)) return undefined;
  const status = init?.status ?? 200;
  const statusText = init?.statusText ?? "";
  // A copy, as the real constructor makes; none at all for the common `new Response("text")`.
  const headers = init?.headers === undefined ? undefined : new Headers(init.headers);
  if (headers !== undefined && type !== null && !headers.has("content-type"))
    headers.set("content-type", type);
  return { status, statusText, headers, body, type };
}

/** The parts `json()` hands to the constructor it calls next (set and taken synchronously). */
let handedParts: LightParts | undefined;

/**
 * `globalThis.Response` while {@link installLightResponse} is in effect. Behaves as the real
 * `Response` it builds on first use of any member other than `status`, `ok`, `statusText` and
 * `headers`.
 */
export class LightResponse {
  /** The arguments, checked, while no real Response exists; then undefined. */
  #parts: LightParts | undefined;
  #real: Response | undefined;

  constructor(body?: ResponseBody, init?: ResponseInit) {
    if (handedParts !== undefined) {
      // From json(): its parts, already checked.
      this.#parts = handedParts;
      handedParts = undefined;
      return;
    }
    const light = lightBody(body);
    const type = typeof light === "string" ? TEXT_CONTENT_TYPE : null;
    const parts = light === undefined ? undefined : lightPartsOf(light, type, init);
    // Anything else goes to the real constructor: its behaviour, its errors.
    if (parts === undefined) this.#real = new NativeResponse(body, init);
    else this.#parts = parts;
  }

  /**
   * `Response.json(data, init)`, light: the body is `JSON.stringify(data)`, typed
   * {@link JSON_CONTENT_TYPE} unless `init.headers` names a content type. What the light parts
   * cannot hold (a status outside 200–599, a status text the platform refuses, a null-body status)
   * and data with no JSON text go to the platform's `Response.json`, for its answer or its error.
   *
   * @example
   * ```ts
   * import { LightResponse as Response, serve } from "natsmesh";
   * await serve(async (req: Request) => Response.json({ got: await req.json() }), { service: "echo" });
   * ```
   */
  static json(data: unknown, init?: ResponseInit): Response {
    if (!staysLight(init, true)) return NativeResponse.json(data, init);
    const text = JSON.stringify(data) as string | undefined;
    if (text === undefined) return NativeResponse.json(data, init); // its TypeError
    handedParts = lightPartsOf(text, JSON_CONTENT_TYPE, init);
    return new LightResponse() as unknown as Response;
  }

  #materialize(): Response {
    const parts = this.#parts;
    if (this.#real === undefined && parts !== undefined) {
      const { status, statusText, body, type } = parts;
      const headers = parts.headers ?? (type === null ? undefined : { "content-type": type });
      this.#real = new NativeResponse(body as ResponseBody, { status, statusText, headers });
      this.#parts = undefined;
    }
    return this.#real!;
  }

  get status(): number {
    return this.#parts?.status ?? this.#materialize().status;
  }

  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status <= 299;
  }

  get statusText(): string {
    return this.#parts?.statusText ?? this.#materialize().statusText;
  }

  get headers(): Headers {
    const parts = this.#parts;
    if (parts === undefined) return this.#materialize().headers;
    parts.headers ??= new Headers(parts.type === null ? undefined : { "content-type": parts.type });
    return parts.headers;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof NativeResponse;
  }

  /** @internal The adapter's reader; see {@link lightParts}. */
  static partsOf(value: LightResponse): LightParts | undefined {
    return value.#parts;
  }

  /** @internal The real Response behind `value`, built on first use. */
  static realOf(value: LightResponse): Response {
    return value.#materialize();
  }
}

// Every other member of Response.prototype delegates to the real Response.
for (const name of Object.getOwnPropertyNames(NativeResponse.prototype)) {
  if (name === "constructor" || Object.hasOwn(LightResponse.prototype, name)) continue;
  const descriptor = Object.getOwnPropertyDescriptor(NativeResponse.prototype, name);
  if (descriptor === undefined) continue;
  if (typeof descriptor.value === "function") {
    const method = descriptor.value as (...args: unknown[]) => unknown;
    Object.defineProperty(LightResponse.prototype, name, {
      configurable: true,
      writable: true,
      value(this: LightResponse, ...args: unknown[]) {
        return method.apply(LightResponse.realOf(this), args);
      },
    });
  } else if (descriptor.get !== undefined) {
    const getter = descriptor.get;
    Object.defineProperty(LightResponse.prototype, name, {
      configurable: true,
      get(this: LightResponse) {
        return getter.call(LightResponse.realOf(this));
      },
    });
  }
}
Object.setPrototypeOf(LightResponse.prototype, NativeResponse.prototype);
Object.setPrototypeOf(LightResponse, NativeResponse);

/**
 * natsmesh's light `Response`, to import instead of the global one in a Fetch handler: nothing global
 * is replaced. `new LightResponse(string | bytes, init)` and `LightResponse.json(data, init)` keep
 * their checked parts, and the adapter sends them as bytes, without the body stream the platform
 * builds for each `Response` (and, on Node 24 and 26, without reading that stream back). Any other
 * use — `body`, `text()`, `clone()`, other bodies (streams, forms, blobs), statuses outside
 * 200–599 — builds or is the platform's own Response, so it reads as one; `instanceof Response` holds.
 * Measured in bench/fast-body.ts (BENCHMARKS.md, issue #19).
 *
 * @example
 * ```ts
 * import { LightResponse as Response, serve } from "natsmesh";
 *
 * await serve(async (req: Request) => Response.json({ items: ((await req.json()) as unknown[]).length }), {
 *   service: "orders",
 * });
 * ```
 */
export const PublicLightResponse: typeof Response = LightResponse as unknown as typeof Response;

/**
 * The status, headers and body of a light response that nothing has read as a stream; undefined for
 * any other response (a real one, or a light one whose real Response was built).
 */
export function lightParts(response: Response): LightParts | undefined {
  if (!(Object.getPrototypeOf(response) === LightResponse.prototype)) return undefined;
  const light = response as unknown as LightResponse;
  return LightResponse.partsOf(light);
}

/**
 * The platform Response behind `response`: the real one a light response built (building it now if
 * needed), or `response` itself. Code that reads undici's internal state (response-body.ts) needs it.
 */
export function nativeOf(response: Response): Response {
  return Object.prototype.isPrototypeOf.call(LightResponse.prototype, response)
    ? LightResponse.realOf(response as unknown as LightResponse)
    : response;
}

/** Whether `globalThis.Response` is {@link LightResponse}. */
export function lightResponseInstalled(): boolean {
  return globalThis.Response === (LightResponse as unknown as typeof Response);
}

/** How many holders asked for the light Response through {@link acquireLightResponse}. */
let holders = 0;
/** `globalThis.Response` as the first holder found it, put back when the last one releases. */
let previous: typeof Response | undefined;

/**
 * Makes `globalThis.Response` the {@link LightResponse} for one holder (a service instance started
 * with `overrideGlobalResponse: true`) and returns its release, which does nothing after its first
 * call. The first holder installs it; the last release puts back the `Response` the first one found,
 * unless something else has replaced the global since (that is left alone).
 */
export function acquireLightResponse(): () => void {
  if (holders++ === 0) {
    previous = lightResponseInstalled() ? NativeResponse : globalThis.Response;
    globalThis.Response = LightResponse as unknown as typeof Response;
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--holders > 0) return;
    if (lightResponseInstalled()) globalThis.Response = previous ?? NativeResponse;
    previous = undefined;
  };
}

/**
 * Makes `new Response(...)` anywhere in this process build a {@link LightResponse}, without a
 * holder: for tests and bench/ (serve() uses {@link acquireLightResponse}). Idempotent.
 * {@link uninstallLightResponse} puts the real one back.
 */
export function installLightResponse(): void {
  globalThis.Response = LightResponse as unknown as typeof Response;
}

/** Puts the real `Response` back as `globalThis.Response`. */
export function uninstallLightResponse(): void {
  globalThis.Response = NativeResponse;
}
