import { inspect } from "node:util";
import express from "express";
import { describe, expect, it } from "vitest";
import { toResponse } from "../src/client/from-wire.js";
import { MeshResponse } from "../src/client/mesh-response.js";
import type { WireRequest } from "../src/internal.js";
import { fetchAdapter } from "../src/server/adapters/fetch.js";
import { lazyRequest } from "../src/server/adapters/lazy-request.js";
import { nodeAdapter } from "../src/server/adapters/node.js";
import { readResponseBytes } from "../src/server/adapters/response-body.js";

const wire = (over: Partial<WireRequest> = {}): WireRequest => ({
  method: "POST",
  path: "/a?b=1",
  headers: ["content-type", "application/json", "x-a", "1"],
  body: Buffer.from('{"n":1}'),
  ...over,
});

describe("adapters - lazy Request", () => {
  it("adapters - method, url and headers come straight from the wire; instanceof Request holds", () => {
    const req = lazyRequest(wire(), "svc");
    expect(req).toBeInstanceOf(Request);
    expect(req.method).toBe("POST");
    expect(req.url).toBe("http://svc/a?b=1");
    expect(req.headers.get("x-a")).toBe("1");
    expect(Object.prototype.toString.call(req)).toBe("[object Request]");
  });

  it("adapters - body methods read the wire's bytes; signal and clone are answered by a real Request", async () => {
    const req = lazyRequest(wire(), "svc");
    expect(req.bodyUsed).toBe(false);
    expect(req.signal).toBeInstanceOf(AbortSignal);
    const copy = req.clone();
    expect(await req.json()).toEqual({ n: 1 });
    expect(req.bodyUsed).toBe(true);
    expect(await copy.text()).toBe('{"n":1}');
    await expect(req.text()).rejects.toThrow(TypeError);
  });

  it("adapters - a lazy Request can be forwarded through a RequestInit", async () => {
    const req = lazyRequest(wire(), "svc");
    const forwarded = new Request("http://upstream/x", {
      method: req.method,
      headers: req.headers,
      body: await req.arrayBuffer(),
    });
    expect(forwarded.method).toBe("POST");
    expect(await forwarded.text()).toBe('{"n":1}');
  });

  it("adapters - header values above U+00FF are refused up front", () => {
    expect(() => lazyRequest(wire({ headers: ["x-city", "東京"] }), "svc")).toThrow(/above U\+00FF/);
    expect(() => lazyRequest(wire({ headers: ["x-city", "Zürich"] }), "svc")).not.toThrow();
  });

  it("adapters - the Fetch adapter answers a refused header value with 400 without calling the handler", async () => {
    let called = 0;
    const handler = fetchAdapter(() => {
      called++;
      return new Response("x");
    });
    const errors: unknown[] = [];
    const res = await handler(wire({ headers: ["x-city", "東京"] }), {
      service: "s",
      onError: (e) => errors.push(e),
    });
    expect(res.status).toBe(400);
    expect(called).toBe(0);
  });
});

describe("adapters - Node listener lifecycle", () => {
  it("adapters - after the answer, req and res hear 'finish' then 'close', as after an HTTP response", async () => {
    const events: string[] = [];
    let closed!: () => void;
    const bothClosed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const handler = nodeAdapter((req, res) => {
      let n = 0;
      const onClose = (who: string) => () => {
        events.push(`${who} close`);
        if (++n === 2) closed();
      };
      req.once("close", onClose("req"));
      res.once("close", onClose("res"));
      res.once("finish", () => events.push("res finish"));
      res.end("done");
    });
    const res = await handler(wire({ method: "GET", body: new Uint8Array(0) }), {
      service: "svc",
      onError: (err) => events.push(`error ${String(err)}`),
    });
    expect(Buffer.from(res.body).toString()).toBe("done");
    await bothClosed;
    expect(events[0]).toBe("res finish");
    expect(events.slice(1).sort()).toEqual(["req close", "res close"]);
  });
});

describe("adapters - Node listener sockets", () => {
  const ctx = { service: "svc", onError: () => undefined };

  it("adapters - one request at a time reuses a socket, as keep-alive does; concurrent requests get their own; a destroyed socket is not reused", async () => {
    const sockets: unknown[] = [];
    const handler = nodeAdapter((req, res) => {
      sockets.push(req.socket);
      if (req.url === "/destroy") res.destroy();
      else if (req.url === "/later") setImmediate(() => res.end("later"));
      else res.end("ok");
    });
    const get = (path: string) => handler(wire({ method: "GET", path, body: new Uint8Array(0) }), ctx);
    await get("/");
    await get("/");
    expect(sockets[1]).toBe(sockets[0]);
    await Promise.all([get("/later"), get("/later")]);
    expect(sockets[3]).not.toBe(sockets[2]);
    expect((await get("/destroy")).status).toBe(500);
    const destroyed = sockets[4];
    await get("/");
    await get("/");
    expect(sockets.slice(5)).not.toContain(destroyed);
  });

  it("adapters - a reused socket gathers no listeners: over 50 express answers, 200s and finalhandler's 404s, each request finds it as the first did", async () => {
    const app = express();
    app.get("/ok", (_req, res) => {
      res.json({ ok: true });
    });
    const sockets = new Set<unknown>();
    const seen: Array<Record<string, number>> = [];
    const handler = nodeAdapter((req, res) => {
      sockets.add(req.socket);
      seen.push(
        Object.fromEntries(req.socket.eventNames().map((e) => [String(e), req.socket.listenerCount(e)])),
      );
      app(req, res);
    });
    for (let i = 0; i < 50; i++) {
      const path = i % 2 === 0 ? "/ok" : "/missing";
      const res = await handler(wire({ method: "GET", path, body: new Uint8Array(0) }), ctx);
      expect(res.status).toBe(i % 2 === 0 ? 200 : 404);
    }
    expect(sockets.size).toBe(1);
    for (const counts of seen) expect(counts).toEqual(seen[0]);
  });

  it("adapters - socket tuning calls (setTimeout, setNoDelay, setKeepAlive) are accepted, and 100 Continue is not sent as the answer", async () => {
    const handler = nodeAdapter((req, res) => {
      req.setTimeout(1000);
      res.setTimeout(1000);
      req.socket.setNoDelay(true);
      req.socket.setKeepAlive(true);
      res.writeContinue();
      res.setHeader("x-b", "2");
      res.end(`${req.socket.remoteAddress}`);
    });
    const res = await handler(wire(), ctx);
    expect(res.status).toBe(200);
    expect(res.headers).toEqual(expect.arrayContaining(["x-b", "2"]));
    expect(Buffer.from(res.body).toString()).toBe("127.0.0.1");
  });

  it("adapters - a body the handler declares chunked arrives as written, without chunk framing, in one message or streamed", async () => {
    const handler = nodeAdapter((req, res) => {
      res.writeHead(200, { "Transfer-Encoding": "chunked", "content-type": "text/plain" });
      res.write("hello ");
      if (req.url === "/later") setImmediate(() => res.end("world"));
      else res.end("world");
    });
    const now = await handler(wire({ method: "GET", path: "/", body: new Uint8Array(0) }), ctx);
    expect(Buffer.from(now.body).toString()).toBe("hello world");
    expect(now.headers.map((h) => h.toLowerCase())).not.toContain("transfer-encoding");
    const later = await handler(wire({ method: "GET", path: "/later", body: new Uint8Array(0) }), ctx);
    expect(later.stream).toBeDefined();
    expect(await new Response(later.stream).text()).toBe("hello world");
  });

  it("adapters - bytes written with write() before end(), as a string or bytes, in order and with their encodings", async () => {
    const handler = nodeAdapter((_req, res) => {
      res.writeHead(201, { "x-c": "3" });
      res.write(Buffer.from("a"));
      res.write("ff", "hex");
      res.write("é");
      res.end(Buffer.from("z"));
    });
    const res = await handler(wire(), ctx);
    expect(res.status).toBe(201);
    expect(res.headers).toEqual(expect.arrayContaining(["x-c", "3"]));
    expect(Buffer.from(res.body)).toEqual(
      Buffer.concat([Buffer.from("a"), Buffer.from([0xff]), Buffer.from("é"), Buffer.from("z")]),
    );
  });
});

describe("adapters - response bodies", () => {
  it("adapters - string, bytes, stream, empty and used bodies are all read whole", async () => {
    expect(Buffer.from(await readResponseBytes(new Response("héllo"))).toString()).toBe("héllo");
    expect(await readResponseBytes(new Response(new Uint8Array([1, 2, 3])))).toEqual(
      new Uint8Array([1, 2, 3]),
    );
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("ab"));
        c.enqueue(new TextEncoder().encode("c"));
        c.close();
      },
    });
    expect(Buffer.from(await readResponseBytes(new Response(stream))).toString()).toBe("abc");
    expect((await readResponseBytes(new Response(null))).byteLength).toBe(0);
    expect(Buffer.from(await readResponseBytes(new Response(new Blob(["blob"])))).toString()).toBe("blob");
    const used = new Response("x");
    await used.text();
    await expect(readResponseBytes(used)).rejects.toThrow(TypeError);
  });
});

describe("adapters - client Response", () => {
  const res = (body: string | null, headers: string[] = []) =>
    toResponse(
      { status: 200, statusText: "OK", headers, body: Buffer.from(body ?? "") },
      "http://svc/x",
      body === null ? "HEAD" : "GET",
    );

  it("adapters - MeshResponse reads like a platform Response", async () => {
    const r = res('{"a":1}', ["content-type", "application/json"]);
    expect(r).toBeInstanceOf(Response);
    expect(r).toBeInstanceOf(MeshResponse);
    expect(r.url).toBe("http://svc/x");
    expect(r.ok).toBe(true);
    expect(r.bodyUsed).toBe(false);
    expect(await r.json()).toEqual({ a: 1 });
    expect(r.bodyUsed).toBe(true);
    await expect(r.text()).rejects.toThrow(TypeError);
  });

  it("adapters - body is a readable stream; after reading it, the body is used", async () => {
    const r = res("streamed");
    const chunks: Uint8Array[] = [];
    const reader = r.body!.getReader();
    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);
    expect(Buffer.concat(chunks).toString()).toBe("streamed");
    expect(r.bodyUsed).toBe(true);
    await expect(r.arrayBuffer()).rejects.toThrow(TypeError);
  });

  it("adapters - clone, blob, bytes, a UTF-8 BOM and a HEAD response behave as fetch's do", async () => {
    const r = res("x", ["content-type", "text/plain"]);
    const c = r.clone();
    expect(await r.text()).toBe("x");
    const blob = await c.blob();
    expect(blob.type).toBe("text/plain");
    expect(await blob.text()).toBe("x");
    expect(await res("\ufeffbom").text()).toBe("bom");
    expect(await res("ab").bytes()).toEqual(new Uint8Array([97, 98]));
    const head = res(null);
    expect(head.body).toBeNull();
    expect(await head.text()).toBe("");
  });

  it("adapters - headers are built on first read: repeated names, set-cookie, trimmed values, case", () => {
    const r = res("x", ["Set-Cookie", "a=1", "set-cookie", "b=2", "X-Many", "1", "x-many", " 2 "]);
    expect(r.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(r.headers.get("x-many")).toBe("1, 2");
    expect(r.headers).toBe(r.headers); // built once
    const c = r.clone();
    expect(c.headers).not.toBe(r.headers);
    expect(c.headers.get("x-many")).toBe("1, 2");
  });

  it("adapters - a header value the Fetch API refuses fails when the Response is made, not when read", () => {
    expect(() => res("x", ["x-city", "東京"])).toThrow(TypeError);
    expect(() => res("x", ["x-a", "a\rb"])).toThrow(TypeError);
    expect(() => res("x", ["x-a", "nul\0"])).toThrow(TypeError);
    expect(res("x", ["x-city", "Zürich"]).headers.get("x-city")).toBe("Zürich");
  });

  it("adapters - MeshResponse overrides every member of Response.prototype: none of the platform's brand-checked getters is reached", async () => {
    const r = res("hi", ["content-type", "text/plain", "x-a", "1"]);
    for (const key of Reflect.ownKeys(Response.prototype)) {
      if (key === "constructor" || key === Symbol.toStringTag) continue;
      if (key === inspect.custom) continue; // the platform's reads through the getters below
      expect(Object.hasOwn(MeshResponse.prototype, key), String(key)).toBe(true);
    }
    expect([r.status, r.statusText, r.ok, r.type, r.redirected]).toEqual([200, "OK", true, "default", false]);
    expect(inspect(r)).toContain("status: 200");
    expect(Object.prototype.toString.call(r)).toBe("[object Response]");
    const rewrapped = new Response(r.body, r);
    expect(rewrapped.status).toBe(200);
    expect(rewrapped.headers.get("x-a")).toBe("1");
    expect(await rewrapped.text()).toBe("hi");
    const notFound = toResponse(
      { status: 404, statusText: "", headers: [], body: Buffer.from("") },
      "http://svc/",
      "GET",
    );
    expect([notFound.status, notFound.ok]).toEqual([404, false]);
  });

  it("adapters - formData parses an urlencoded body", async () => {
    const form = await res("a=1&b=2", ["content-type", "application/x-www-form-urlencoded"]).formData();
    expect(form.get("b")).toBe("2");
  });
});
