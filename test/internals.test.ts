/**
 * Fast paths and settings that read an internal of nats.js, Node or undici, checked on whichever Node
 * runs the suite (CI runs it on every supported version): if an upgrade moved the internal, these
 * fail instead of natsmesh quietly taking another path.
 */
import { IncomingMessage, OutgoingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createFetch, type ServiceHandle, serve } from "../src/index.js";
import type { WireRequest } from "../src/internal.js";
import { CaptureSocket } from "../src/server/adapters/capture-socket.js";
import { nodeAdapter } from "../src/server/adapters/node.js";
import type { NodeListener } from "../src/server/adapters/types.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

describe("internals - nats.js", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture({ http: "127.0.0.1:-1" }, { inboxPrefix: "_NMX" });
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  it("internals - an instance's exchange subscription uses the connection's inboxPrefix (nats.js options.inboxPrefix)", async () => {
    let svc: ServiceHandle | undefined;
    try {
      svc = await serve(() => new Response("ok"), { service: "inboxed", nc: nats.nc, logger: silent });
      const fetch = createFetch({ nc: nats.nc });
      expect(await (await fetch("http://inboxed/")).text()).toBe("ok");
      const subs = (await nats.server.subsz({ subs: 1 })).subscriptions_list ?? [];
      const exchanges = subs.filter((s) => /^_NMX\.[A-Za-z0-9]+\.\*$/.test(s.subject));
      // The instance's exchange inbox and the client's reply inbox both follow the prefix.
      expect(exchanges.length, JSON.stringify(subs.map((s) => s.subject))).toBeGreaterThanOrEqual(1);
      expect(subs.some((s) => s.subject.startsWith("_INBOX."))).toBe(false);
      await fetch.close();
    } finally {
      await svc?.stop();
    }
  });
});

/**
 * The Node adapter (src/server/adapters/node.ts) builds node:http's own request and response objects
 * and reads their answer through internals: `_writeRaw` (every serialised chunk), `_storeHeader`
 * (the head; chunk framing turned off), `_header` (a `writeHead(status, headers)` answer keeps its
 * headers only there), `kOutHeaders` (the headers set, read without `getRawHeaderNames`), `kNeedDrain` (when to emit 'drain'), `_addHeaderLines` and `_dump` on the
 * request. Checked on each Node CI runs (20, 22, 24, 26): on all four the fast path is taken; a Node
 * that moves one fails here rather than answering empty bodies or chunk-framed ones.
 */
describe("internals - node:http", () => {
  const ctx = { service: "svc", onError: () => undefined };
  const wire = (over: Partial<WireRequest> = {}): WireRequest => ({
    method: "POST",
    path: "/p",
    headers: ["content-type", "application/json"],
    body: Buffer.from('{"n":1}'),
    ...over,
  });
  const text = (body: Uint8Array) => Buffer.from(body).toString();
  /** Runs one request through the adapter, counting what reached the socket instead of `_writeRaw`. */
  async function answer(listener: NodeListener, request = wire()) {
    const socketWrites = vi.spyOn(CaptureSocket.prototype, "_write");
    try {
      const res = await nodeAdapter(listener)(request, ctx);
      return { res, socketWrites: socketWrites.mock.calls.length };
    } finally {
      socketWrites.mockRestore();
    }
  }

  it("internals - node:http's OutgoingMessage still has the _writeRaw and _storeHeader the adapter replaces per response", () => {
    const proto = OutgoingMessage.prototype as unknown as Record<string, unknown>;
    expect(typeof proto._writeRaw).toBe("function");
    expect(typeof proto._storeHeader).toBe("function");
    const incoming = IncomingMessage.prototype as unknown as Record<string, unknown>;
    expect(typeof incoming._addHeaderLines).toBe("function");
    expect(typeof incoming._dump).toBe("function");
  });

  it("internals - every byte of a response reaches the adapter through _writeRaw (write and end, strings and bytes), none the socket", async () => {
    const { res, socketWrites } = await answer((_req, r) => {
      r.setHeader("content-type", "text/plain");
      r.write("hel");
      r.write(Buffer.from("lo "));
      r.end("world");
    });
    expect(res.status).toBe(200);
    expect(text(res.body)).toBe("hello world");
    expect(res.headers).toEqual(["content-type", "text/plain"]);
    expect(socketWrites).toBe(0);
  });

  it("internals - _storeHeader is called per response: a body declared chunked by hand arrives without chunk framing", async () => {
    const { res, socketWrites } = await answer((_req, r) => {
      r.setHeader("transfer-encoding", "chunked");
      r.write("ab");
      r.end("cd");
    });
    expect(text(res.body)).toBe("abcd");
    expect(res.headers.map((h) => h.toLowerCase())).not.toContain("transfer-encoding");
    expect(socketWrites).toBe(0);
  });

  it("internals - writeHead(status, headers) with nothing set before keeps the headers only in _header on this Node; the adapter reads them from there", async () => {
    // The state the adapter's fallback (headersOf) relies on, on all four versions.
    const probe = new ServerResponse(new IncomingMessage(new CaptureSocket() as unknown as Socket));
    probe.writeHead(201, { "x-a": "1" });
    expect((probe as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames()).toEqual([]);
    expect((probe as unknown as { _header: string })._header).toMatch(
      /^HTTP\/1\.1 201 Created\r\nx-a: 1\r\n/,
    );
    const { res } = await answer((_req, r) => {
      r.writeHead(201, { "x-a": "1", "content-type": "text/plain" });
      r.end("made");
    });
    expect(res.status).toBe(201);
    expect(res.headers).toEqual(["x-a", "1", "content-type", "text/plain"]);
    expect(text(res.body)).toBe("made");
  });

  it("internals - a response keeps its headers under node:http's kOutHeaders (lower-cased name → [name as set, value]); the adapter reads them there, not through getRawHeaderNames/getHeader", async () => {
    const probe = new ServerResponse(new IncomingMessage(new CaptureSocket() as unknown as Socket));
    const kOutHeaders = Object.getOwnPropertySymbols(probe).find((s) => s.description === "kOutHeaders");
    expect(kOutHeaders).toBeDefined();
    expect((probe as unknown as Record<symbol, unknown>)[kOutHeaders!]).toBeNull();
    probe.setHeader("X-Case", "1");
    expect({ ...(probe as unknown as Record<symbol, object>)[kOutHeaders!] }).toEqual({
      "x-case": ["X-Case", "1"],
    });
    const proto = OutgoingMessage.prototype as unknown as { getRawHeaderNames(): string[] };
    const byNames = vi.spyOn(proto, "getRawHeaderNames");
    const byName = vi.spyOn(OutgoingMessage.prototype, "getHeader");
    try {
      const { res } = await answer((_req, r) => {
        r.setHeader("Content-Type", "text/plain");
        r.setHeader("Set-Cookie", ["a=1", "b=2"]);
        r.setHeader("X-Count", 3);
        r.setHeader("Connection", "close");
        r.end("ok");
      });
      expect(res.headers).toEqual([
        "Content-Type",
        "text/plain",
        "Set-Cookie",
        "a=1",
        "Set-Cookie",
        "b=2",
        "X-Count",
        "3",
      ]);
      expect(byNames).not.toHaveBeenCalled();
      expect(byName).not.toHaveBeenCalled();
    } finally {
      byNames.mockRestore();
      byName.mockRestore();
    }
  });

  it("internals - a ServerResponse carries node:http's kNeedDrain symbol, so 'drain' is emitted only after a write that asked to wait", () => {
    const res = new ServerResponse(new IncomingMessage(new CaptureSocket() as unknown as Socket));
    const symbols = Object.getOwnPropertySymbols(res).map((s) => s.description);
    expect(symbols).toContain("kNeedDrain");
  });

  it("internals - the request's headers come from _addHeaderLines, and a body the handler never read is dumped (_dump): req ends and closes", async () => {
    let headers: Record<string, unknown> = {};
    let closed = 0;
    const { res } = await answer((req, r) => {
      headers = { ...req.headers };
      req.on("close", () => closed++);
      r.end("ignored the body");
    });
    expect(text(res.body)).toBe("ignored the body");
    expect(headers).toEqual({ "content-type": "application/json", host: "svc", "content-length": "7" });
    await check(() => closed === 1, 2000, { name: "req closed" });
  });
});
