/**
 * A Fetch handler's body reads take the wire's bytes directly (issue #19, item 2), on every supported
 * Node, with the platform's semantics (Fetch §6.2, the Body mixin). The observable that tells the
 * fast path from the platform's: after a read, the platform Request's body stream is used but not
 * locked (it was cancelled, never read through a reader, which a platform read leaves locked).
 */
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, serve } from "../src/index.js";
import type { WireRequest, WireResponse } from "../src/internal.js";
import { fetchAdapter } from "../src/server/adapters/fetch.js";
import { lazyRequest } from "../src/server/adapters/lazy-request.js";
import { BODY_UNUSABLE } from "../src/server/adapters/request-body.js";
import type { RequestControl } from "../src/server/exchange.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** undici 6 (Node 20, 22): a lazy Request; undici 7+ (24, 26): a platform Request subclass. Stated, not probed. */
const LAZY_EXPECTED = Number(process.versions.node.split(".")[0]) <= 22;

const wire = (over: Partial<WireRequest> = {}): WireRequest => ({
  method: "POST",
  path: "/x",
  headers: ["content-type", "application/json"],
  body: Buffer.from('{"n":1}'),
  ...over,
});

/** The platform Request the wire request stands for: what the fast path must read the same as. */
function platform(w: WireRequest): Request {
  const headers = new Headers();
  for (let i = 0; i < w.headers.length; i += 2) headers.append(w.headers[i]!, w.headers[i + 1]!);
  const withBody = w.method !== "GET" && w.method !== "HEAD" && w.body.byteLength > 0;
  return new Request(`http://svc${w.path}`, {
    method: w.method,
    headers,
    body: withBody ? (w.body as BodyInit) : undefined,
  });
}

/** Whether `req`'s body was taken by the fast path: used, and its stream cancelled rather than read. */
function takenFast(req: Request): boolean {
  return req.bodyUsed && req.body !== null && !req.body.locked;
}

type Read = "arrayBuffer" | "blob" | "bytes" | "formData" | "json" | "text";

/** A read's outcome in comparable form: the value (bytes, blob type and bytes, form entries) or the error. */
async function outcome(req: Request, read: Read): Promise<unknown> {
  try {
    const value: unknown = await req[read]();
    if (value instanceof ArrayBuffer) return { ab: [...new Uint8Array(value)] };
    if (value instanceof Uint8Array) return { u8: [...value] };
    if (value instanceof Blob)
      return { type: value.type, bytes: [...new Uint8Array(await value.arrayBuffer())] };
    if (value instanceof FormData) return { form: [...value].map(([k, v]) => [k, String(v)]) };
    return { value };
  } catch (err) {
    return { error: (err as Error).constructor.name };
  }
}

const MULTIPART =
  '--b\r\ncontent-disposition: form-data; name="a"\r\n\r\none\r\n--b\r\ncontent-disposition: form-data; name="b"\r\n\r\ntwo\r\n--b--\r\n';

const CASES: { name: string; w: WireRequest }[] = [
  { name: "JSON", w: wire() },
  { name: "not JSON", w: wire({ body: Buffer.from("{nope") }) },
  { name: "a UTF-8 BOM", w: wire({ body: Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]) }) },
  { name: "invalid UTF-8", w: wire({ headers: [], body: Buffer.from([0x61, 0xff, 0xc3, 0x62]) }) },
  {
    name: "a content type with parameters",
    w: wire({ headers: ["Content-Type", "Text/Plain; Charset=UTF-8"] }),
  },
  { name: "no content type", w: wire({ headers: [], body: Buffer.from("plain") }) },
  { name: "a malformed content type", w: wire({ headers: ["content-type", "nonsense"] }) },
  {
    name: "a form",
    w: wire({
      headers: ["content-type", "application/x-www-form-urlencoded"],
      body: Buffer.from("a=1&b=%C3%A9"),
    }),
  },
  {
    name: "multipart",
    w: wire({ headers: ["content-type", "multipart/form-data; boundary=b"], body: Buffer.from(MULTIPART) }),
  },
  { name: "a GET", w: wire({ method: "GET", body: new Uint8Array(0) }) },
  { name: "an empty POST", w: wire({ body: new Uint8Array(0) }) },
  { name: "a body in a larger buffer", w: wire({ body: Buffer.from('xx{"n":2}yy').subarray(2, 9) }) },
];

describe("request body - reads from the wire's bytes (Fetch §6.2 Body mixin)", () => {
  it("request body - the handler gets a lazy Request on Node 20 and 22, a platform Request subclass over the bytes on 24+", () => {
    const req = lazyRequest(wire(), "svc");
    expect(req).toBeInstanceOf(Request);
    expect(req.constructor.name).toBe(LAZY_EXPECTED ? "LazyRequest" : "InMemoryRequest");
    if (!LAZY_EXPECTED) {
      // a platform Request: its own members work on it as on any
      expect(Object.getPrototypeOf(Object.getPrototypeOf(req))).toBe(Request.prototype);
      expect(Request.prototype.clone.call(req)).toBeInstanceOf(Request);
    }
    // Nothing to read fast without a body: the plain platform Request where there is no lazy one.
    const get = lazyRequest(wire({ method: "GET", body: new Uint8Array(0) }), "svc");
    expect(Object.getPrototypeOf(get) === Request.prototype).toBe(!LAZY_EXPECTED);
  });

  for (const { name, w } of CASES) {
    it(`request body - ${name}: every read gives what the platform's gives, value or error`, async () => {
      for (const read of ["arrayBuffer", "blob", "bytes", "formData", "json", "text"] as const) {
        const ours = lazyRequest(w, "svc");
        expect(await outcome(ours, read), `${read}()`).toEqual(await outcome(platform(w), read));
        const hasBody = w.method !== "GET" && w.body.byteLength > 0;
        expect(ours.bodyUsed, `${read}() bodyUsed`).toBe(hasBody);
        if (hasBody) expect(takenFast(ours), `${read}() took the bytes`).toBe(true);
      }
    });
  }

  it("request body - a second read rejects with the platform's TypeError; clone(), new Request(req) and fetch(req) refuse a used body", async () => {
    const req = lazyRequest(wire(), "svc");
    expect(await req.json()).toEqual({ n: 1 });
    expect(takenFast(req)).toBe(true);
    await expect(req.text()).rejects.toThrow(new TypeError(BODY_UNUSABLE));
    await expect(req.arrayBuffer()).rejects.toThrow(TypeError);
    await expect(Request.prototype.text.call(req)).rejects.toThrow(TypeError);
    expect(() => req.clone()).toThrow(TypeError);
    expect(() => new Request(req)).toThrow(TypeError);
    await expect(fetch(req)).rejects.toThrow(TypeError);
  });

  it("request body - a body read by the platform first (Request.prototype.text.call, req.body) cannot be read again fast", async () => {
    const viaProto = lazyRequest(wire(), "svc");
    expect(await Request.prototype.text.call(viaProto)).toBe('{"n":1}');
    await expect(viaProto.json()).rejects.toThrow(TypeError);
    const viaStream = lazyRequest(wire(), "svc");
    expect(await new Response(viaStream.body).text()).toBe('{"n":1}');
    await expect(viaStream.text()).rejects.toThrow(TypeError);
    const locked = lazyRequest(wire(), "svc");
    locked.body!.getReader();
    await expect(locked.text()).rejects.toThrow(TypeError);
  });

  it("request body - signal, clone() and headers used before the read: the read is still fast, a clone reads apart", async () => {
    const req = lazyRequest(wire(), "svc");
    expect(req.signal.aborted).toBe(false); // on Node 20 and 22 this builds the platform Request
    const copy = req.clone();
    req.headers.set("content-type", "application/vnd.x+json");
    const blob = await req.blob();
    expect(blob.type).toBe("application/vnd.x+json");
    expect(takenFast(req)).toBe(true);
    expect(await copy.json()).toEqual({ n: 1 });
  });

  it("request body - the body a read returns is the caller's own copy", async () => {
    const bytes = Buffer.from("abc");
    const a = new Uint8Array(await lazyRequest(wire({ body: bytes }), "svc").arrayBuffer());
    a[0] = 0x7a;
    const b = await lazyRequest(wire({ body: bytes }), "svc").bytes();
    b[1] = 0x7a;
    expect(bytes.toString()).toBe("abc");
  });

  it("request body - a streamed body is read through its stream", async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(Buffer.from("part 1,"));
        c.enqueue(Buffer.from("part 2"));
        c.close();
      },
    });
    const req = lazyRequest(wire({ body: new Uint8Array(0), stream }), "svc");
    expect(await req.text()).toBe("part 1,part 2");
    expect(req.bodyUsed).toBe(true);
    await expect(req.text()).rejects.toThrow(TypeError);
  });

  it("request body - the signal still aborts when the caller leaves after a fast read", async () => {
    const caller = new AbortController();
    const control: RequestControl = { signal: caller.signal, onAbort: () => undefined };
    let signal: AbortSignal | undefined;
    const res: WireResponse = await fetchAdapter(async (req) => {
      await req.json();
      signal = req.signal;
      return new Response("ok");
    })(wire(), { service: "svc", onError: () => undefined }, control);
    expect(res.status).toBe(200);
    caller.abort(new Error("gone"));
    await check(() => signal!.aborted, 2000, { name: "signal aborted" });
  });
});

describe("request body - over NATS", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  it("request body - Hono's c.req.json() takes the fast path", async () => {
    const app = new Hono().post("/horses", async (c) => {
      const horse = await c.req.json<{ name: string }>();
      return c.json({ name: horse.name, fast: takenFast(c.req.raw) });
    });
    const svc = await serve(app, { service: "stable", nc: nats.nc, logger: silent });
    const client = createFetch({ nc: nats.nc });
    try {
      const res = await client("http://stable/horses", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "Shadowfax" }),
      });
      expect(await res.json()).toEqual({ name: "Shadowfax", fast: true });
    } finally {
      await client.close();
      await svc.stop();
    }
  });
});
