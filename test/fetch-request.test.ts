import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, serve } from "../src/index.js";
import type { WireRequest, WireResponse } from "../src/internal.js";
import { fetchAdapter } from "../src/server/adapters/fetch.js";
import { LAZY_REQUEST, lazyRequest } from "../src/server/adapters/lazy-request.js";
import type { RequestControl } from "../src/server/exchange.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/**
 * The Request a Fetch handler gets behaves as a platform Request for every use (issue #18, item 2).
 * Where the platform lets it answer from its own state (undici 6: Node 20, 22) the Request is lazy;
 * on undici 7+ (Node 24, 26) it is the real one from the start. Stated per Node version, not probed,
 * so that an upgrade that silently turns the lazy path off fails here.
 */
const LAZY_EXPECTED = Number(process.versions.node.split(".")[0]) <= 22;

const wire = (over: Partial<WireRequest> = {}): WireRequest => ({
  method: "POST",
  path: "/echo/a?b=1",
  headers: ["content-type", "application/json", "x-a", "1", "x-a", "2"],
  body: Buffer.from('{"n":1}'),
  ...over,
});

/** What the upstream saw, as JSON. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A node:http server on loopback that answers every request with what it saw. */
let upstream: Server;
let host: string;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const seen: Seen = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(seen));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  host = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

/** Runs `handler` through the Fetch adapter with a request whose URL names the upstream. */
async function viaAdapter(
  handler: (req: Request) => Response | Promise<Response>,
  over: Partial<WireRequest> = {},
  control?: RequestControl,
): Promise<WireResponse> {
  const errors: unknown[] = [];
  const res = await fetchAdapter(handler)(
    wire(over),
    { service: host, onError: (e) => errors.push(e) },
    control,
  );
  if (errors.length > 0) throw errors[0];
  return res;
}

/** The answer's body: its bytes, or its stream read (a platform Response's, on Node 24+). */
async function readWire(res: WireResponse): Promise<string> {
  if (res.stream === undefined) return Buffer.from(res.body).toString("utf8");
  return new Response(res.stream).text();
}

describe("adapters - fetch handler Request", () => {
  it("adapters - fetch handler Request - lazy on Node 20 and 22 (undici 6 state under symbols), a real one on 24+ (a subclass that reads its in-memory body fast)", () => {
    expect(LAZY_REQUEST).toBe(LAZY_EXPECTED);
    const req = lazyRequest(wire(), host);
    // undici 7+: an instance of a subclass, so the platform's constructor ran and its private state exists.
    expect(req.constructor.name).toBe(LAZY_EXPECTED ? "LazyRequest" : "InMemoryRequest");
    const get = lazyRequest(wire({ method: "GET", body: new Uint8Array(0) }), host);
    expect(Object.getPrototypeOf(get) === Request.prototype).toBe(!LAZY_EXPECTED);
  });

  it("adapters - fetch handler Request - fetch(req) sends method, path, headers and body to a node:http server on loopback (Fetch §5.1: the input Request is used as it is)", async () => {
    const res = await viaAdapter((req) => fetch(req));
    expect(res.status).toBe(200);
    const seen = JSON.parse(await readWire(res)) as Seen;
    expect(seen.method).toBe("POST");
    expect(seen.url).toBe("/echo/a?b=1");
    expect(seen.headers["x-a"]).toBe("1, 2");
    expect(seen.headers["content-type"]).toBe("application/json");
    expect(seen.body).toBe('{"n":1}');
    const get = await viaAdapter((req) => fetch(req), { method: "GET", body: new Uint8Array(0) });
    expect((JSON.parse(await readWire(get)) as Seen).method).toBe("GET");
  });

  it("adapters - fetch handler Request - headers changed by the handler before fetch(req) are sent", async () => {
    const res = await viaAdapter((req) => {
      req.headers.set("x-forwarded-by", "natsmesh");
      req.headers.delete("x-a");
      return fetch(req);
    });
    const seen = JSON.parse(await readWire(res)) as Seen;
    expect(seen.headers["x-forwarded-by"]).toBe("natsmesh");
    expect(seen.headers["x-a"]).toBeUndefined();
  });

  it("adapters - fetch handler Request - new Request(req) copies method, URL, headers and body (Fetch §6.4, Request constructor with a Request input)", async () => {
    let copy: Request | undefined;
    await viaAdapter((req) => {
      copy = new Request(req);
      return new Response("ok");
    });
    expect(copy!.method).toBe("POST");
    expect(copy!.url).toBe(`http://${host}/echo/a?b=1`);
    expect(copy!.headers.get("x-a")).toBe("1, 2");
    expect(await copy!.json()).toEqual({ n: 1 });
    let overridden: Request | undefined;
    await viaAdapter((req) => {
      overridden = new Request(req, { method: "PUT", headers: { "x-b": "3" } });
      return new Response("ok");
    });
    expect(overridden!.method).toBe("PUT");
    expect(overridden!.headers.get("x-b")).toBe("3");
    expect(await overridden!.text()).toBe('{"n":1}');
  });

  it("adapters - fetch handler Request - req.clone() gives a Request whose body reads apart from the original's (Fetch §6.4 clone())", async () => {
    const res = await viaAdapter(async (req) => {
      const copy = req.clone();
      expect(copy).toBeInstanceOf(Request);
      expect(copy.headers.get("x-a")).toBe("1, 2");
      const [a, b] = [await req.text(), await copy.text()];
      expect(req.bodyUsed).toBe(true);
      return new Response(`${a}|${b}`);
    });
    expect(await readWire(res)).toBe('{"n":1}|{"n":1}');
  });

  it("adapters - fetch handler Request - Request.prototype's members called on req pass its brand check (WebIDL §3.7: an interface's operations and attributes check their this)", async () => {
    const res = await viaAdapter(async (req) => {
      const proto = Request.prototype;
      const get = (name: string) => Object.getOwnPropertyDescriptor(proto, name)!.get!.call(req);
      expect(get("method")).toBe("POST");
      expect(get("url")).toBe(`http://${host}/echo/a?b=1`);
      expect((get("headers") as Headers).get("x-a")).toBe("1, 2");
      expect(get("signal")).toBeInstanceOf(AbortSignal);
      expect(get("bodyUsed")).toBe(false);
      expect(proto.clone.call(req)).toBeInstanceOf(Request);
      return new Response(await proto.text.call(req));
    });
    expect(await readWire(res)).toBe('{"n":1}');
    const json = await viaAdapter(async (req) => Response.json(await Request.prototype.json.call(req)));
    expect(await readWire(json)).toBe('{"n":1}');
    const bytes = await viaAdapter(
      async (req) => new Response(await Request.prototype.arrayBuffer.call(req)),
    );
    expect(await readWire(bytes)).toBe('{"n":1}');
  });

  it("adapters - fetch handler Request - req.body is the body's ReadableStream, null for a GET; bodyUsed after reading it (Fetch §6.2 Body mixin)", async () => {
    const res = await viaAdapter(async (req) => {
      expect(req.body).toBeInstanceOf(ReadableStream);
      const body = await new Response(req.body).text();
      expect(req.bodyUsed).toBe(true);
      return new Response(body);
    });
    expect(await readWire(res)).toBe('{"n":1}');
    await viaAdapter(
      (req) => {
        expect(req.body).toBeNull();
        return new Response("ok");
      },
      { method: "GET", body: new Uint8Array(0) },
    );
  });

  it("adapters - fetch handler Request - req.signal aborts when the caller leaves, and so does a copy's (Fetch §6.4: a copy's signal follows its input's)", async () => {
    const caller = new AbortController();
    const control: RequestControl = { signal: caller.signal, onAbort: () => undefined };
    let seen: { signal: AbortSignal; copy: AbortSignal } | undefined;
    await viaAdapter(
      (req) => {
        seen = { signal: req.signal, copy: new Request(req).signal };
        return new Response("ok");
      },
      {},
      control,
    );
    expect(seen!.signal.aborted).toBe(false);
    caller.abort(new Error("the caller left"));
    await check(() => seen!.signal.aborted && seen!.copy.aborted, 2000, { name: "signals aborted" });
  });

  it("adapters - fetch handler Request - instanceof Request, its toStringTag, and the same headers object on every read", async () => {
    await viaAdapter((req) => {
      expect(req).toBeInstanceOf(Request);
      expect(Object.prototype.toString.call(req)).toBe("[object Request]");
      expect(req.headers).toBe(req.headers);
      expect(req.method).toBe("POST");
      expect(req.url).toBe(`http://${host}/echo/a?b=1`);
      return new Response("ok");
    });
  });

  it("adapters - fetch handler Request - body reads (text, json, arrayBuffer) as before", async () => {
    for (const read of [
      (r: Request) => r.text(),
      async (r: Request) => JSON.stringify(await r.json()),
      async (r: Request) => Buffer.from(await r.arrayBuffer()).toString(),
    ]) {
      const res = await viaAdapter(async (req) => new Response(await read(req)));
      expect(await readWire(res)).toBe('{"n":1}');
    }
  });
});

describe("adapters - fetch handler Request - over NATS", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  it("adapters - fetch handler Request - a served handler proxies with new Request(req) and fetch(), a streamed body included", async () => {
    const svc = await serve(
      (req: Request) => {
        const url = new URL(req.url);
        return fetch(new Request(`http://${host}${url.pathname}${url.search}`, new Request(req)));
      },
      { service: "proxy", nc: nats.nc, logger: silent },
    );
    const client = createFetch({ nc: nats.nc });
    try {
      const res = await client("http://proxy/echo?x=1", {
        method: "POST",
        headers: { "x-a": "1" },
        body: "plain body",
      });
      const seen = (await res.json()) as Seen;
      expect(seen).toMatchObject({ method: "POST", url: "/echo?x=1", body: "plain body" });
      expect(seen.headers["x-a"]).toBe("1");
      const streamed = await client("http://proxy/echo", {
        method: "PUT",
        body: new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode("chunk 1,"));
            c.enqueue(new TextEncoder().encode("chunk 2"));
            c.close();
          },
        }),
        duplex: "half",
      } as RequestInit);
      expect(((await streamed.json()) as Seen).body).toBe("chunk 1,chunk 2");
    } finally {
      await client.close();
      await svc.stop();
    }
  });
});
