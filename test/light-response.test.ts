import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, serve } from "../src/index.js";
import type { WireRequest, WireResponse } from "../src/internal.js";
import { fetchAdapter } from "../src/server/adapters/fetch.js";
import {
  installLightResponse,
  LightResponse,
  lightParts,
  lightResponseInstalled,
  nativeOf,
  uninstallLightResponse,
} from "../src/server/adapters/light-response.js";
import { toWireHandler } from "../src/server/handler.js";
import { type NatsFixture, natsFixture, silentLogger } from "./support/helpers.js";

const NativeResponse = globalThis.Response;

const wire = (over: Partial<WireRequest> = {}): WireRequest => ({
  method: "GET",
  path: "/",
  headers: [],
  body: new Uint8Array(0),
  ...over,
});

const ctx = (errors: unknown[] = []) => ({ service: "svc", onError: (err: unknown) => errors.push(err) });

const text = (res: WireResponse) => Buffer.from(res.body).toString("utf8");

const header = (res: WireResponse, name: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < res.headers.length; i += 2) if (res.headers[i] === name) out.push(res.headers[i + 1]!);
  return out;
};

describe("light Response - the global", () => {
  beforeAll(() => installLightResponse());
  afterAll(() => uninstallLightResponse());

  it("light Response - new Response and Response.json are light, instanceof holds both ways, error and redirect are the real ones", async () => {
    expect(lightResponseInstalled()).toBe(true);
    const res = new Response("hi");
    expect(Object.getPrototypeOf(res)).toBe(LightResponse.prototype);
    expect(res).toBeInstanceOf(Response);
    expect(res).toBeInstanceOf(NativeResponse);
    expect(new NativeResponse("x")).toBeInstanceOf(Response);
    expect(await fetchLike()).toBeInstanceOf(Response);
    expect(Object.prototype.toString.call(res)).toBe("[object Response]");
    const json = Response.json({ a: 1 }, { status: 201 });
    expect(Object.getPrototypeOf(json)).toBe(LightResponse.prototype);
    expect(json.status).toBe(201);
    expect(await json.json()).toEqual({ a: 1 });
    expect(Response.redirect("http://x/", 302).headers.get("location")).toBe("http://x/");
    expect(Response.error().type).toBe("error");
  });

  it("light Response - reads as the real one: status, ok, headers, body, text, clone, bodyUsed, arrayBuffer", async () => {
    const res = new Response("héllo", { status: 201, statusText: "Made", headers: { "X-A": "1" } });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.statusText).toBe("Made");
    expect(res.headers.get("x-a")).toBe("1");
    expect(res.headers.get("content-type")).toBe("text/plain;charset=UTF-8");
    expect(res.bodyUsed).toBe(false);
    const copy = res.clone();
    expect(await res.text()).toBe("héllo");
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toThrow(TypeError);
    expect(new Uint8Array(await copy.arrayBuffer())).toEqual(new Uint8Array(Buffer.from("héllo")));
    expect(copy.headers.get("x-a")).toBe("1");
    const bytes = new Response(new Uint8Array([1, 2, 3]));
    expect(bytes.headers.get("content-type")).toBeNull();
    const reader = bytes.body!.getReader();
    expect((await reader.read()).value).toEqual(new Uint8Array([1, 2, 3]));
    expect(new Response(null, { status: 404 }).ok).toBe(false);
    expect(await new Response().text()).toBe("");
  });

  it("light Response - headers set on a light response before it is read survive into the real one", async () => {
    const res = new Response("x");
    res.headers.set("x-late", "yes");
    expect(res.headers.get("x-late")).toBe("yes");
    expect(await res.text()).toBe("x"); // the real Response is built here
    expect(res.headers.get("x-late")).toBe("yes");
    expect(res.headers.get("content-type")).toBe("text/plain;charset=UTF-8");
  });

  it("light Response - bytes changed after new Response(bytes) are not sent, as with the real one", async () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const res = new Response(bytes);
    const buffer = new Uint8Array([4, 5]).buffer;
    const fromBuffer = new Response(buffer);
    bytes[0] = 9;
    new Uint8Array(buffer)[0] = 9;
    const sent = await fetchAdapter(() => res)(wire(), ctx());
    expect([...sent.body]).toEqual([1, 2, 3]);
    expect(new Uint8Array(await fromBuffer.arrayBuffer())).toEqual(new Uint8Array([4, 5]));
    const later = new Response(bytes);
    bytes[1] = 9;
    expect(new Uint8Array(await later.arrayBuffer())).toEqual(new Uint8Array([9, 2, 3]));
  });

  it("light Response - what the real constructor refuses is refused at once, with its error", () => {
    expect(() => new Response("x", { status: 99 })).toThrow(RangeError);
    expect(() => new Response("x", { status: 600 })).toThrow(RangeError);
    expect(() => new Response("x", { statusText: "bad\r\nline" })).toThrow(TypeError);
    expect(() => new Response("x", { headers: { "bad name": "1" } })).toThrow(TypeError);
    expect(() => new Response("x", { headers: { "x-a": "a\r\nb" } })).toThrow(TypeError);
    expect(() => new Response("x", { status: 204 })).toThrow(TypeError); // a null-body status with a body
  });

  it("light Response - other bodies (streams, blobs, forms) are real from the start", async () => {
    const stream = new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new Uint8Array([7]));
          c.close();
        },
      }),
    );
    expect(lightParts(stream)).toBeUndefined();
    expect(new Uint8Array(await stream.arrayBuffer())).toEqual(new Uint8Array([7]));
    const form = new Response(new URLSearchParams({ a: "1" }));
    expect(lightParts(form)).toBeUndefined();
    expect(form.headers.get("content-type")).toMatch(/urlencoded/);
    expect(await new Response(new Blob(["b"])).text()).toBe("b");
  });

  it("light Response - nativeOf gives the real Response a light one built, and leaves real ones alone", async () => {
    const streamed = new Response(new ReadableStream({ pull: (c) => c.close() }));
    const real = nativeOf(streamed);
    expect(Object.getPrototypeOf(real)).toBe(NativeResponse.prototype);
    expect(nativeOf(streamed)).toBe(real);
    const json = NativeResponse.json({ a: 1 });
    expect(nativeOf(json)).toBe(json);
    // A streamed light response goes through the adapter as its real one: the body arrives as a
    // stream (one of more than one chunk; a stream with one chunk and its end ready is sent as bytes).
    const handler = fetchAdapter(
      () =>
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode("chunk 1,"));
              c.enqueue(new TextEncoder().encode("chunk 2"));
              c.close();
            },
          }),
        ),
    );
    const res = await handler(wire(), ctx());
    expect(res.stream).toBeDefined();
    expect(await new NativeResponse(res.stream).text()).toBe("chunk 1,chunk 2");
  });

  it("light Response - the adapter sends a light answer without building the real Response", async () => {
    const made: Response[] = [];
    const handler = fetchAdapter(() => {
      const res = new Response("ok", {
        status: 202,
        headers: [
          ["set-cookie", "a=1"],
          ["set-cookie", "b=2"],
        ],
      });
      made.push(res);
      return res;
    });
    const res = await handler(wire(), ctx());
    expect(res.status).toBe(202);
    expect(text(res)).toBe("ok");
    expect(header(res, "set-cookie")).toEqual(["a=1", "b=2"]);
    expect(header(res, "content-type")).toEqual(["text/plain;charset=UTF-8"]);
    expect(lightParts(made[0]!)).toBeDefined(); // still light: no stream was ever built
    const head = await handler(wire({ method: "HEAD" }), ctx());
    expect(head.body.length).toBe(0);
  });

  it("light Response - a light response the handler already read is sent from the real one", async () => {
    const handler = fetchAdapter(async () => {
      const res = new Response("once");
      await res.text();
      return res;
    });
    const errors: unknown[] = [];
    const res = await handler(wire(), ctx(errors));
    expect(res.status).toBe(500);
    expect(String(errors[0])).toMatch(/already used/);
  });
});

describe("light Response - LightResponse.json, imported (no global replaced)", () => {
  /** What the adapter sends for `res`: status, headers and body text. */
  const sent = async (res: Response) => {
    const out = await fetchAdapter(() => res)(wire({ method: "POST" }), ctx());
    return { status: out.status, headers: out.headers, body: text(out) };
  };
  const cases: [string, unknown, ResponseInit | undefined][] = [
    ["an object", { a: 1, b: ["x", null], c: "é\u{1F600}" }, undefined],
    ["a string with a lone surrogate", "a\uD800b", undefined],
    ["a number, with a status and text", 42, { status: 201, statusText: "Made" }],
    ["null, headers without a content type", null, { headers: { "x-a": "1" } }],
    ["an object, its own content type", { a: 1 }, { headers: { "Content-Type": "application/vnd.x+json" } }],
    [
      "an object, headers as pairs with cookies",
      { a: 1 },
      {
        headers: [
          ["set-cookie", "a=1"],
          ["set-cookie", "b=2"],
        ],
      },
    ],
  ];

  it("light Response - json() sends what the platform's Response.json sends, without building the real one", async () => {
    expect(globalThis.Response).toBe(NativeResponse);
    for (const [name, data, init] of cases) {
      const light = LightResponse.json(data, init);
      expect(Object.getPrototypeOf(light), name).toBe(LightResponse.prototype);
      expect(light).toBeInstanceOf(NativeResponse);
      const answer = await sent(light);
      expect(lightParts(light), name).toBeDefined(); // sent from its parts: no stream was built
      expect(answer, name).toEqual(await sent(NativeResponse.json(data, init)));
    }
  });

  it("light Response - json() reads as the platform's: status, headers, text, json, clone, body, bodyUsed", async () => {
    for (const [name, data, init] of cases) {
      const light = LightResponse.json(data, init);
      const real = NativeResponse.json(data, init);
      expect(light.status, name).toBe(real.status);
      expect(light.ok, name).toBe(real.ok);
      expect(light.statusText, name).toBe(real.statusText);
      expect([...light.headers], name).toEqual([...real.headers]);
      const copy = light.clone();
      expect(await light.text(), name).toBe(await real.text());
      expect(light.bodyUsed, name).toBe(true);
      await expect(light.json(), name).rejects.toThrow(TypeError);
      expect(await copy.json(), name).toEqual(await NativeResponse.json(data, init).json());
    }
    const streamed = LightResponse.json({ s: 1 });
    expect(await new NativeResponse(streamed.body).text()).toBe('{"s":1}');
  });

  it("light Response - json() refuses what the platform's Response.json refuses, with its error", () => {
    const refused: [unknown, ResponseInit | undefined][] = [
      [undefined, undefined],
      [() => 1, undefined],
      [10n, undefined],
      [{ a: 1 }, { status: 99 }],
      [{ a: 1 }, { status: 600 }],
      [{ a: 1 }, { status: 204 }],
      [{ a: 1 }, { statusText: "bad\r\nline" }],
      [{ a: 1 }, { headers: { "bad name": "1" } }],
    ];
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    refused.push([cyclic, undefined]);
    for (const [data, init] of refused) {
      let expected: unknown;
      try {
        NativeResponse.json(data, init);
      } catch (err) {
        expected = err;
      }
      expect(expected, String(init?.status)).toBeDefined();
      expect(() => LightResponse.json(data, init)).toThrow(
        (expected as Error).constructor as ErrorConstructor,
      );
    }
  });
});

describe("light Response - who installs it", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    uninstallLightResponse();
    nats = await natsFixture();
  });
  afterAll(async () => {
    uninstallLightResponse();
    await nats?.[Symbol.asyncDispose]();
  });

  const options = (service: string, overrideGlobalResponse?: boolean) => ({
    service,
    nc: nats.nc,
    logger: silentLogger,
    overrideGlobalResponse,
  });

  it("light Response - by default no global is touched: a Fetch handler, an app with fetch() and a Node listener leave globalThis.Response alone", async () => {
    const before = globalThis.Response;
    const services = [
      await serve(() => new Response("x"), options("plain")),
      await serve({ fetch: () => new Response("x") }, options("app")),
      await serve((_req: unknown, res: { end(s: string): void }) => res.end("x"), options("node", true)),
      await serve(() => new Response("x"), options("off", false)),
    ];
    expect(globalThis.Response).toBe(before);
    expect(lightResponseInstalled()).toBe(false);
    toWireHandler(() => new Response("x"));
    expect(globalThis.Response).toBe(before);
    for (const svc of services) await svc.stop();
    expect(globalThis.Response).toBe(before);
  });

  it("light Response - natsmesh's LightResponse, imported, answers over the mesh with the global left alone", async () => {
    const { LightResponse: Imported } = await import("../src/index.js");
    const svc = await serve(
      async (req: Request) => Imported.json({ got: await req.json() }, { status: 201 }),
      options("imported"),
    );
    const client = createFetch({ nc: nats.nc });
    try {
      expect(globalThis.Response).toBe(NativeResponse);
      const res = await client("http://imported/", { method: "POST", body: '{"a":[1,"é"]}' });
      expect(res.status).toBe(201);
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(await res.json()).toEqual({ got: { a: [1, "é"] } });
    } finally {
      await client.close();
      await svc.stop();
    }
    expect(globalThis.Response).toBe(NativeResponse);
  });

  it("light Response - overrideGlobalResponse: true installs it while an instance that asked runs; the last stop() puts the original back", async () => {
    const original = globalThis.Response;
    expect(original).toBe(NativeResponse);
    const a = await serve(() => new Response("a"), options("light-a", true));
    expect(lightResponseInstalled()).toBe(true);
    const b = await serve({ fetch: () => new Response("b") }, options("light-b", true));
    const client = createFetch({ nc: nats.nc });
    try {
      expect(await (await client("http://light-b/")).text()).toBe("b");
      await a.stop();
      await a.stop(); // a second stop() gives nothing back twice
      expect(lightResponseInstalled()).toBe(true);
      expect(await (await client("http://light-b/")).text()).toBe("b");
    } finally {
      await client.close();
      await b.stop();
    }
    expect(globalThis.Response).toBe(original);
  });

  it("light Response - a global another library put in place after natsmesh's is left alone at the last stop()", async () => {
    const svc = await serve(() => new Response("x"), options("light-c", true));
    const theirs = class extends NativeResponse {};
    globalThis.Response = theirs;
    try {
      await svc.stop();
      expect(globalThis.Response).toBe(theirs);
    } finally {
      globalThis.Response = NativeResponse;
    }
  });
});

/** A Response made by undici's fetch (a data: URL keeps it off the network). */
function fetchLike(): Promise<Response> {
  return fetch("data:text/plain,x");
}
